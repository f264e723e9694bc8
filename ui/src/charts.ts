import { s } from './dom.js';

export interface Point { label: string; value: number | null }

const W = 480;
const H = 140;
const PAD = { left: 36, right: 8, top: 10, bottom: 20 };

/**
 * A small SVG chart: bars or a line over buckets, a y axis from 0 to the largest value, the first
 * and last bucket's labels. A null value (no data for that bucket) leaves a gap.
 */
export function chart(title: string, points: Point[], options: { kind: 'bars' | 'line'; unit?: string } ): SVGElement {
  const max = Math.max(1e-9, ...points.map((p) => p.value ?? 0));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (points.length <= 1 ? innerW / 2 : (i * innerW) / (points.length - 1));
  const y = (v: number) => PAD.top + innerH - (v / max) * innerH;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title }, s('title', {}, title));
  svg.append(
    s('line', { x1: PAD.left, y1: PAD.top + innerH, x2: W - PAD.right, y2: PAD.top + innerH, stroke: '#8c959f' }),
    s('text', { x: 2, y: PAD.top + 8 }, `${format(max)}${options.unit ?? ''}`),
    s('text', { x: 2, y: PAD.top + innerH }, '0'),
  );
  if (points.length > 0) {
    svg.append(s('text', { x: PAD.left, y: H - 4 }, points[0]!.label), s('text', { x: W - PAD.right, y: H - 4, 'text-anchor': 'end' }, points[points.length - 1]!.label));
  }
  if (options.kind === 'bars') {
    const width = Math.max(1, innerW / Math.max(1, points.length) - 2);
    points.forEach((p, i) => {
      if (p.value === null) return;
      const left = PAD.left + (i * innerW) / Math.max(1, points.length);
      svg.append(s('rect', { x: left, y: y(p.value), width, height: PAD.top + innerH - y(p.value), fill: '#1f6feb' }, s('title', {}, `${p.label}: ${format(p.value)}${options.unit ?? ''}`)));
    });
  } else {
    let path = '';
    points.forEach((p, i) => {
      if (p.value === null) { path += ' '; return; }
      path += `${path === '' || path.endsWith(' ') ? 'M' : 'L'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`;
      svg.append(s('circle', { cx: x(i), cy: y(p.value), r: 2, fill: '#bf3989' }, s('title', {}, `${p.label}: ${format(p.value)}${options.unit ?? ''}`)));
    });
    svg.append(s('path', { d: path.trim(), fill: 'none', stroke: '#bf3989', 'stroke-width': 1.5 }));
  }
  return svg;
}

function format(value: number): string {
  return value >= 100 ? String(Math.round(value)) : String(Math.round(value * 100) / 100);
}
