import { get, query } from '../api.js';
import { facts, fill, h, table } from '../dom.js';
import type { PageContext } from '../page.js';
import { dataOr } from '../page.js';

interface Heuristic { id: number; domain: string; rule: string; confidence: number; validations: number; violations: number; golden: boolean; dormant: boolean; state: string }
/** GET /elf/stats (src/api/elf-routes.ts statsSchema). */
interface Stats { outcomes: { total: number; byStatus: Record<string, number> }; heuristics: number; golden: number; dormant: number; trails: number; injections: number; plans: number; postmortems: number; databaseBytes: number }
interface Hotspot { file: string; strength: number; deposits: number; recentFailures: number }

function confidence(value: number): HTMLElement {
  return h('span', {}, h('meter', { min: 0, max: 1, value, 'aria-label': `confidence ${value.toFixed(2)}` }), ` ${value.toFixed(2)}`);
}

function rules(list: Heuristic[], empty: string): HTMLElement {
  return list.length === 0 ? h('p', { class: 'muted' }, empty) : table(['id', 'domain', 'rule', 'confidence', 'validated', 'violated', 'state'],
    list.map((r) => [String(r.id), r.domain, r.rule, confidence(r.confidence), String(r.validations), String(r.violations), `${r.state}${r.golden ? ', golden' : ''}${r.dormant ? ', dormant' : ''}`]),
    { numeric: [0, 4, 5] });
}

function counts(stats: Stats): HTMLElement {
  const byStatus = Object.entries(stats.outcomes.byStatus).map(([status, n]) => `${n} ${status}`).join(', ');
  return facts([
    ['tasks remembered', `${stats.outcomes.total}${byStatus ? ` (${byStatus})` : ''}`], ['heuristics', `${stats.heuristics} (${stats.golden} golden, ${stats.dormant} dormant)`],
    ['file trails', String(stats.trails)], ['memory given to workers', `${stats.injections} time(s)`], ['plans', String(stats.plans)], ['postmortems', String(stats.postmortems)],
    ['database size', `${(stats.databaseBytes / 1024).toFixed(0)} KiB`],
  ]);
}

/** Memory: the caller's client's ELF heuristics with confidence, golden rules, hot files and counts. */
export async function memoryPage(ctx: PageContext): Promise<void> {
  const domain = ctx.params.get('domain') ?? '';
  const [stats, heuristics, golden, hotspots] = await Promise.all([
    get<Stats>('/elf/stats'), get<Heuristic[]>(`/elf/heuristics${query({ domain })}`),
    get<Heuristic[]>('/elf/golden-rules'), get<Hotspot[]>('/elf/hotspots'),
  ]);
  // No ELF process answers (503 elf_not_running): every view would say the same, so the page says it once.
  const down = [stats, heuristics, golden, hotspots].find((a) => a.kind === 'error' && a.code === 'elf_not_running');
  if (down !== undefined && down.kind === 'error') {
    fill(ctx.main, h('h1', {}, 'Memory'), h('p', { class: 'warning', role: 'alert', 'data-elf': 'not-running' },
      `The ELF memory is not answering, so nothing of it can be shown: ${down.message}`));
    return;
  }
  const s = dataOr(stats, 'Memory counts');
  const hs = dataOr(heuristics, 'Heuristics');
  const g = dataOr(golden, 'Golden rules');
  const hot = dataOr(hotspots, 'Hot files');
  fill(ctx.main, h('h1', {}, 'Memory'),
    h('h2', {}, 'Counts'), 'data' in s ? counts(s.data) : s.shown,
    h('h2', {}, 'Golden rules'), 'data' in g ? rules(g.data, 'No golden rules yet.') : g.shown,
    h('h2', {}, 'Heuristics'), 'data' in hs ? rules(hs.data, 'No heuristics yet.') : hs.shown,
    h('h2', {}, 'Hot files'), 'data' in hot ? (hot.data.length === 0 ? h('p', { class: 'muted' }, 'No trails yet.')
      : table(['file', 'strength', 'deposits', 'recent failures'], hot.data.map((f) => [f.file, f.strength.toFixed(2), String(f.deposits), String(f.recentFailures)]), { numeric: [1, 2, 3] }))
      : hot.shown);
}
