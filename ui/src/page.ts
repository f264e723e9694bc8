import type { Answer } from './api.js';
import { h } from './dom.js';

export type Role = 'read' | 'submit' | 'admin';

/** What a page is given: where to draw, the route's parts and query, who is signed in, and a signal that aborts when the person leaves the page. */
export interface PageContext {
  main: HTMLElement;
  parts: string[];
  params: URLSearchParams;
  role: Role;
  client: string;
  /** The signed-in key's id; null while no key exists and the server answers everyone. */
  keyId: string | null;
  signal: AbortSignal;
  /** Draws the current route again (after an action). */
  reload(): void;
}

export type Page = (ctx: PageContext) => Promise<void>;

/** Whether the role may send, cancel and retry (submit) or also purge and manage keys (admin). */
export function may(role: Role, needed: Role): boolean {
  const rank: Record<Role, number> = { read: 0, submit: 1, admin: 2 };
  return rank[role] >= rank[needed];
}

/** The honest stand-in for a view whose endpoint this server does not have. */
export function notAvailable(what: string): HTMLElement {
  return h('p', { class: 'notice', 'data-missing': what }, `${what}: not available on this server.`);
}

/** An API error as the page shows it: its message, which says what to do. */
export function failure(answer: Extract<Answer<unknown>, { kind: 'error' }>): HTMLElement {
  return h('p', { class: 'error', role: 'alert' }, `${answer.message} (${answer.code})`);
}

/** `answer`'s data, or the element that says why there is none. */
export function dataOr<T>(answer: Answer<T>, what: string): { data: T } | { shown: HTMLElement } {
  if (answer.kind === 'ok') return { data: answer.data };
  if (answer.kind === 'missing') return { shown: notAvailable(what) };
  return { shown: failure(answer) };
}

/** Runs `action` again every `ms` until the page is left; each run replaces the previous content. */
export function every(ctx: PageContext, ms: number, action: () => Promise<void>): void {
  const timer = setInterval(() => { void action(); }, ms);
  ctx.signal.addEventListener('abort', () => clearInterval(timer));
}

/** A line that reports what an action did, announced to screen readers. */
export function outcome(text: string, ok = true): HTMLElement {
  return h('p', { class: ok ? 'ok' : 'error', role: 'status' }, text);
}

/** The result of a bulk action as the contracts shape it: matched, done, skipped with reasons. */
export interface BulkResult {
  matched: number;
  done: string[];
  skipped: Array<{ id: string; reason: string }>;
}

export function bulkSummary(verb: string, result: BulkResult): string {
  const skipped = result.skipped.slice(0, 5).map((s) => `${s.id}: ${s.reason}`).join('; ');
  return `${result.matched} matched, ${result.done.length} ${verb}, ${result.skipped.length} skipped${skipped ? ` (${skipped}${result.skipped.length > 5 ? '; …' : ''})` : ''}`;
}
