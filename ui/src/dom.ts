/**
 * The one way the dashboard puts anything on the page: elements built with createElement, every value
 * as a text node or an attribute. Nothing is ever parsed as markup (no innerHTML), so a task
 * description, a log line or a file name holding <script> shows as the text it is.
 */

export type Child = Node | string | number | null | undefined | false;
type Handler = (event: Event) => void;
export type Attrs = Record<string, string | number | boolean | Handler | undefined>;

function apply(element: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element with `attrs` (on* are listeners) and `children` (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  apply(element, attrs);
  append(element, children);
  return element;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element, for the charts. */
export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const element = document.createElementNS(SVG, tag);
  apply(element, attrs);
  append(element, children);
  return element;
}

/** Replaces what `parent` holds. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A link inside the dashboard: `#/` followed by path parts, each encoded. */
export function route(...parts: string[]): string {
  return `#/${parts.map((p) => encodeURIComponent(p)).join('/')}`;
}

/** A table with a header row; cells are children as `h` takes them. Wrapped so it scrolls on a phone. */
export function table(headers: string[], rows: Child[][], options: { numeric?: number[]; caption?: string } = {}): HTMLElement {
  const numeric = new Set(options.numeric ?? []);
  const cls = (i: number) => (numeric.has(i) ? { class: 'num' } : {});
  // Focusable: a wide table scrolls sideways (on a phone), and a keyboard must reach its right side.
  return h('div', { class: 'scroll', tabindex: 0 }, h('table', {},
    options.caption ? h('caption', { class: 'muted' }, options.caption) : null,
    h('thead', {}, h('tr', {}, ...headers.map((t, i) => h('th', { scope: 'col', ...cls(i) }, t)))),
    h('tbody', {}, ...rows.map((row) => h('tr', {}, ...row.map((cell, i) => h('td', cls(i), cell)))))));
}

/** A definition list of facts; absent values read "none". */
export function facts(pairs: Array<[string, Child]>): HTMLElement {
  const dl = h('dl', { class: 'facts' });
  for (const [term, value] of pairs) dl.append(h('dt', {}, term), h('dd', {}, value === null || value === undefined || value === '' ? h('span', { class: 'muted' }, 'none') : value));
  return dl;
}

/** How long ago `iso` was, such as "4 s" or "3 min"; "unknown" for a time that does not parse. */
export function age(iso: string | null | undefined, now = Date.now()): string {
  const at = iso ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(at)) return 'unknown';
  return duration(Math.max(0, now - at));
}

/** A duration in ms as people read it. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'unknown';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

/**
 * Asks with a modal <dialog> (never window.confirm: the page's own dialog, labelled, keyboard-usable)
 * and resolves true only when the person pressed the confirming button.
 */
export function confirmAction(question: string, detail: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'button', class: 'danger', 'data-confirm': 'yes' }, confirmLabel);
    const no = h('button', { type: 'button' }, 'Keep it');
    const dialog = h('dialog', { 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title' }, question), h('p', {}, detail), h('div', { class: 'actions' }, yes, no));
    const done = (answer: boolean) => { dialog.close(); dialog.remove(); resolve(answer); };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dialog.addEventListener('cancel', () => done(false));
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}
