import { get, query } from '../api.js';
import { fill, h, table } from '../dom.js';
import type { PageContext } from '../page.js';
import { dataOr } from '../page.js';

interface Heuristic { id: number; domain: string; rule: string; confidence: number; validations: number; violations: number; golden: boolean; dormant: boolean; state: string }
interface Hotspot { file: string; strength: number; deposits: number; recentFailures: number }

function confidence(value: number): HTMLElement {
  return h('span', {}, h('meter', { min: 0, max: 1, value, 'aria-label': `confidence ${value.toFixed(2)}` }), ` ${value.toFixed(2)}`);
}

function rules(list: Heuristic[], empty: string): HTMLElement {
  return list.length === 0 ? h('p', { class: 'muted' }, empty) : table(['id', 'domain', 'rule', 'confidence', 'validated', 'violated', 'state'],
    list.map((r) => [String(r.id), r.domain, r.rule, confidence(r.confidence), String(r.validations), String(r.violations), `${r.state}${r.golden ? ', golden' : ''}${r.dormant ? ', dormant' : ''}`]),
    { numeric: [0, 4, 5] });
}

/** Memory: the caller's client's ELF heuristics with confidence, golden rules, hot files and counts. */
export async function memoryPage(ctx: PageContext): Promise<void> {
  const domain = ctx.params.get('domain') ?? '';
  const [stats, heuristics, golden, hotspots] = await Promise.all([
    get<Record<string, unknown>>('/elf/stats'), get<Heuristic[]>(`/elf/heuristics${query({ domain })}`),
    get<Heuristic[]>('/elf/golden-rules'), get<Hotspot[]>('/elf/hotspots'),
  ]);
  const s = dataOr(stats, 'Memory counts');
  const hs = dataOr(heuristics, 'Heuristics');
  const g = dataOr(golden, 'Golden rules');
  const hot = dataOr(hotspots, 'Hot files');
  fill(ctx.main, h('h1', {}, 'Memory'),
    h('h2', {}, 'Counts'), 'data' in s ? h('pre', {}, JSON.stringify(s.data, null, 2)) : s.shown,
    h('h2', {}, 'Golden rules'), 'data' in g ? rules(g.data, 'No golden rules yet.') : g.shown,
    h('h2', {}, 'Heuristics'), 'data' in hs ? rules(hs.data, 'No heuristics yet.') : hs.shown,
    h('h2', {}, 'Hot files'), 'data' in hot ? (hot.data.length === 0 ? h('p', { class: 'muted' }, 'No trails yet.')
      : table(['file', 'strength', 'deposits', 'recent failures'], hot.data.map((f) => [f.file, f.strength.toFixed(2), String(f.deposits), String(f.recentFailures)]), { numeric: [1, 2, 3] }))
      : hot.shown);
}
