import { s } from './dom.js';

export interface Point { label: string; value: number | null }

const W = 480;
const H = 140;
const PAD = { left: 36, right: 8, top: 10, bottom: 20 };
const innerW = W - PAD.left - PAD.right;
const innerH = H - PAD.top - PAD.bottom;

/** The chart's box: its title, the x axis, the y axis from 0 to the largest of `values`, the first and last of `labels`. */
function frame(title: string, values: number[], unit: string | undefined, labels: string[]): { svg: SVGElement; y: (v: number) => number } {
  const max = Math.max(1e-9, ...values);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title }, s('title', {}, title));
  svg.append(
    s('line', { x1: PAD.left, y1: PAD.top + innerH, x2: W - PAD.right, y2: PAD.top + innerH, stroke: '#8c959f' }),
    s('text', { x: 2, y: PAD.top + 8 }, `${format(max)}${unit ?? ''}`),
    s('text', { x: 2, y: PAD.top + innerH }, '0'),
  );
  if (labels.length > 0) {
    svg.append(s('text', { x: PAD.left, y: H - 4 }, labels[0]!), s('text', { x: W - PAD.right, y: H - 4, 'text-anchor': 'end' }, labels[labels.length - 1]!));
  }
  return { svg, y: (v: number) => PAD.top + innerH - (v / max) * innerH };
}

/**
 * A small SVG chart: bars or a line over buckets, a y axis from 0 to the largest value, the first
 * and last bucket's labels. A null value (no data for that bucket) leaves a gap.
 */
export function chart(title: string, points: Point[], options: { kind: 'bars' | 'line'; unit?: string } ): SVGElement {
  const { svg, y } = frame(title, points.map((p) => p.value ?? 0), options.unit, points.map((p) => p.label));
  const x = (i: number) => PAD.left + (points.length <= 1 ? innerW / 2 : (i * innerW) / (points.length - 1));
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

/** One pair of a `pairChart`: where it stands on the time axis, and its two values (null: not known). */
export interface Pair { label: string; atMs: number; before: number | null; after: number | null }

/** The colours of a pairChart's two dots, for a legend beside it. */
export const PAIR_COLORS = { before: '#1f6feb', after: '#bf3989' } as const;

/**
 * Pairs over time: per pair a dot for `before` and one for `after` at its time, joined by a line; a
 * value not known is drawn as a '?' on the axis, never as a number. Pairs at one time share the middle.
 */
export function pairChart(title: string, pairs: Pair[], names: { before: string; after: string }): SVGElement {
  const known = pairs.flatMap((p) => [p.before, p.after]).filter((v): v is number => v !== null);
  const { svg, y } = frame(title, known, undefined, [...pairs].sort((a, b) => a.atMs - b.atMs).map((p) => p.label));
  const first = Math.min(...pairs.map((p) => p.atMs));
  const span = Math.max(...pairs.map((p) => p.atMs)) - first;
  // Inset from both ends, so a dot at the first or last time is not cut by the box.
  const inset = 8;
  const x = (ms: number) => PAD.left + inset + (span <= 0 ? innerW / 2 - inset : ((ms - first) * (innerW - 2 * inset)) / span);
  const mark = (p: Pair, value: number | null, name: string, color: string): SVGElement => (value === null
    ? s('text', { x: x(p.atMs), y: PAD.top + innerH - 2, 'text-anchor': 'middle', 'data-value': 'unknown', 'data-series': name }, '?', s('title', {}, `${p.label}: ${name} not known`))
    : s('circle', { cx: x(p.atMs), cy: y(value), r: 3, fill: color, 'data-value': value, 'data-series': name }, s('title', {}, `${p.label}: ${format(value)} ${name}`)));
  for (const p of pairs) {
    if (p.before !== null && p.after !== null) svg.append(s('line', { x1: x(p.atMs), y1: y(p.before), x2: x(p.atMs), y2: y(p.after), stroke: '#8c959f' }));
    svg.append(mark(p, p.before, names.before, PAIR_COLORS.before), mark(p, p.after, names.after, PAIR_COLORS.after));
  }
  return svg;
}

function format(value: number): string {
  return value >= 100 ? String(Math.round(value)) : String(Math.round(value * 100) / 100);
}
