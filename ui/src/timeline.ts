import { duration, h } from './dom.js';

export interface Span {
  id: string; parent_id: string | null; kind: string; name: string; task_id: string; agent_id: string | null;
  start: string; end: string | null; duration_ms: number | null; status: string | null;
  /** Absent from servers older than the field. */
  error?: string | null;
}

/** The spans in tree order (each after its parent, children by start) with their depth. */
export function ordered(spans: Span[]): Array<{ span: Span; depth: number }> {
  const ids = new Set(spans.map((s) => s.id));
  const children = new Map<string | null, Span[]>();
  for (const span of spans) {
    const parent = span.parent_id !== null && ids.has(span.parent_id) ? span.parent_id : null;
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const out: Array<{ span: Span; depth: number }> = [];
  const seen = new Set<string>();
  const walk = (parent: string | null, depth: number) => {
    for (const span of (children.get(parent) ?? []).sort((a, b) => Date.parse(a.start) - Date.parse(b.start))) {
      if (seen.has(span.id)) continue;
      seen.add(span.id);
      out.push({ span, depth });
      walk(span.id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

/**
 * The waterfall: one row per span, its bar placed on a shared time axis from the first start to the
 * last end (a span still open runs to now), labelled with its duration. Positions are set through the
 * style object, which the page's CSP allows (style attributes it does not).
 */
export function waterfall(spans: Span[], now = Date.now()): HTMLElement {
  const rows = ordered(spans);
  const endOf = (s: Span) => (s.end ? Date.parse(s.end) : now);
  const t0 = Math.min(...spans.map((s) => Date.parse(s.start)));
  const t1 = Math.max(...spans.map(endOf), t0 + 1);
  const total = t1 - t0;
  const box = h('div', { class: 'waterfall', role: 'list', 'aria-label': `Timeline, ${duration(total)} in all` });
  for (const { span, depth } of rows) {
    const start = Date.parse(span.start) - t0;
    const length = (span.duration_ms ?? endOf(span) - Date.parse(span.start));
    const label = `${span.kind.replace('_', ' ')}: ${span.name}`;
    const error = span.error ? ` · ${span.error}` : '';
    const bar = h('div', { class: `span-bar kind-${span.kind.replace(/[^a-z_]/g, '')}`, title: `${label} (${duration(length)}${span.status ? `, ${span.status}` : ''})${error}` });
    bar.style.left = `${(100 * start) / total}%`;
    bar.style.width = `${Math.max(0.2, (100 * length) / total)}%`;
    const time = h('span', { class: 'span-time' }, `${duration(length)}${span.end === null ? ' (running)' : ''}${span.status ? ` · ${span.status}` : ''}${error}`);
    // The label goes after the bar, or before it when the bar ends near the right edge, or on a light
    // ground over the bar when it spans nearly all of it: never dark text on the bar's colour.
    const from = (100 * start) / total;
    const to = (100 * (start + length)) / total;
    if (to <= 70) time.style.left = `${to}%`;
    else if (from >= 30) { time.style.right = `${100 - from}%`; time.classList.add('before'); }
    else { time.style.left = `${from}%`; time.classList.add('over'); }
    const name = h('div', { class: 'span-label', title: label }, label);
    name.style.paddingLeft = `${0.4 + depth}em`;
    box.append(h('div', { class: 'span', role: 'listitem' }, name, h('div', { class: 'span-track' }, bar, time)));
  }
  return box;
}
