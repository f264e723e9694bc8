import { get } from '../api.js';
import type { Point } from '../charts.js';
import { chart } from '../charts.js';
import { fill, h, table } from '../dom.js';
import type { PageContext } from '../page.js';
import { dataOr } from '../page.js';

interface Bucket { start: string; completed: number; failed: number; p95_ms: number | null }
interface History { window: string; bucket_seconds: number; domains: Record<string, Bucket[]> }
/** GET /cost's answer (src/api/metrics-routes.ts costSchema). */
export interface CostLine { key: string; usd: number; calls: number; unpriced_calls: number }
export interface CostReport { since: string; until: string; total: Omit<CostLine, 'key'>; lines: CostLine[] }

const WINDOWS = ['24h', '7d'] as const;

/** History: per domain, tasks finished, failure rate and p95 duration per bucket over the last 24 hours or 7 days. */
export async function historyPage(ctx: PageContext): Promise<void> {
  const window = WINDOWS.find((w) => w === ctx.params.get('window')) ?? '24h';
  const [got, spent] = await Promise.all([get<History>(`/history?window=${window}`), get<CostReport>(`/cost?by=domain&since=${window}`)]).then(([a, b]) => [dataOr(a, 'History'), dataOr(b, 'Cost')] as const);
  const pick = h('p', {}, 'Window: ', ...WINDOWS.flatMap((w) => [w === window ? h('strong', {}, w) : h('a', { href: `#/history?window=${w}` }, w), ' ']));
  if (!('data' in got)) { fill(ctx.main, h('h1', {}, 'History'), pick, got.shown); return; }
  const label = (iso: string) => (window === '24h' ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : new Date(iso).toLocaleDateString([], { month: 'short', day: 'numeric', hour: '2-digit' }));
  const domains = Object.entries(got.data.domains);
  // Whose tasks: GET /history answers an admin key's with every client's.
  const whose = h('p', { class: 'muted' }, ctx.role === 'admin' ? 'Tasks of every client (an admin key sees them all).' : `Tasks of client ${ctx.client}.`);
  // What model calls cost per domain, from the model gateway's day counters (whole UTC days).
  const cost = 'data' in spent
    ? h('section', { class: 'card', 'aria-label': 'Cost per domain' }, h('h2', {}, `Model calls' cost per domain, ${spent.data.since} to ${spent.data.until} (UTC days)`),
      spent.data.lines.length === 0 ? h('p', { class: 'muted' }, 'No model call was counted in these days.')
        : table(['domain', 'USD', 'calls', 'unpriced calls'], spent.data.lines.map((l) => [l.key, l.usd.toFixed(6), String(l.calls), String(l.unpriced_calls)]), { numeric: [1, 2, 3] }))
    : spent.shown;
  fill(ctx.main, h('h1', {}, 'History'), pick, whose, cost,
    domains.length === 0 ? h('p', { class: 'muted' }, 'No task has finished in this window.') : null,
    ...domains.map(([domain, buckets]) => {
      const done = buckets.reduce((n, b) => n + b.completed, 0);
      const failed = buckets.reduce((n, b) => n + b.failed, 0);
      const series = (f: (b: Bucket) => number | null): Point[] => buckets.map((b) => ({ label: label(b.start), value: f(b) }));
      return h('section', { class: 'card', 'aria-label': `Domain ${domain}` },
        h('h2', {}, domain),
        table(['finished', 'failed', 'failure rate'], [[String(done + failed), String(failed), done + failed === 0 ? '–' : `${((100 * failed) / (done + failed)).toFixed(1)} %`]], { numeric: [0, 1, 2] }),
        h('div', { class: 'grid' },
          h('figure', {}, h('figcaption', {}, `Throughput (tasks per ${got.data.bucket_seconds / 3600} h)`), chart(`${domain} throughput`, series((b) => b.completed + b.failed), { kind: 'bars' })),
          h('figure', {}, h('figcaption', {}, 'Failure rate (%)'), chart(`${domain} failure rate`, series((b) => (b.completed + b.failed === 0 ? null : (100 * b.failed) / (b.completed + b.failed))), { kind: 'line', unit: ' %' })),
          h('figure', {}, h('figcaption', {}, 'p95 duration (s)'), chart(`${domain} p95 duration`, series((b) => (b.p95_ms === null ? null : b.p95_ms / 1000)), { kind: 'line', unit: ' s' }))));
    }));
}
