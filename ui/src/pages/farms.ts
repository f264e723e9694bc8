import { get, post, query } from '../api.js';
import type { Pair } from '../charts.js';
import { PAIR_COLORS, pairChart } from '../charts.js';
import { confirmAction, facts, fill, h, route, s, table } from '../dom.js';
import type { PageContext } from '../page.js';
import { dataOr, every, failure, may, notAvailable, outcome } from '../page.js';
import type { JobRow } from './tasks.js';

interface FarmRun { id: string; status: string; started_at: string | null; ended_at: string | null; problems_before: number | null; problems_after: number | null }

/** The client's farms over time (GET /farms): per farm its problems before and after, at when it ended (or started, while it runs). */
function problemsChart(farms: FarmRun[]): HTMLElement {
  const pairs: Pair[] = farms.flatMap((f) => {
    const at = f.ended_at ?? f.started_at;
    const ms = at === null ? Number.NaN : Date.parse(at);
    if (!Number.isFinite(ms)) return [];
    const when = new Date(ms).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
    return [{ label: `${f.id.slice(0, 8)} ${f.ended_at === null ? 'started' : 'ended'} ${when}`, atMs: ms, before: f.problems_before, after: f.problems_after }];
  });
  if (pairs.length === 0) return h('p', { class: 'muted' }, 'No farm has started yet: nothing to chart.');
  const dot = (color: string) => s('svg', { width: 10, height: 10, viewBox: '0 0 10 10', 'aria-hidden': 'true' }, s('circle', { cx: 5, cy: 5, r: 4, fill: color }));
  return h('figure', {},
    h('figcaption', {}, 'Problems before and after, per farm, by when it ended (or started, while it runs)'),
    pairChart('Problems before and after per farm', pairs, { before: 'before', after: 'after' }),
    h('p', { class: 'muted' }, dot(PAIR_COLORS.before), ' before ', dot(PAIR_COLORS.after), ' after; ? not counted (the farm runs still, had no problems command, or could not count them as it ended)'));
}

interface FarmStatus { farm: Record<string, string>; agents: Array<Record<string, unknown> & { name: string; locked: string[] }> }

function farmView(id: string, status: FarmStatus): HTMLElement[] {
  const f = status.farm;
  return [
    facts([
      ['status', f['status']], ['path', f['path']], ['runtime', f['runtime']],
      // problems_after is measured once, as the farm ends; the Farms list charts both over the farms.
      ['problems', f['problems_before'] === undefined ? 'not counted yet'
        : f['problems_after'] ? `${f['problems_before']} before → ${f['problems_after']} after` : `${f['problems_before']} before; the count after is taken when the farm ends`],
      ['chunks', `${f['chunks_done'] ?? 0} done of ${f['chunks_total'] ?? '?'}`], ['result branch', f['result_branch']], ['error', f['error']],
      ['task', h('a', { href: route('task', id) }, id)],
    ]),
    status.agents.length === 0 ? h('p', { class: 'muted' }, 'No agent yet.') : table(
      ['agent', 'status', 'chunk', 'its files', 'locks held', 'chunks done', 'restarts', 'tokens in', 'tokens out', 'last event'],
      status.agents.map((a) => [a.name, `${String(a['status'] ?? '')}${a['waiting_for'] ? ` (${String(a['waiting_for'])})` : ''}`, String(a['chunk'] || '–'),
        String(a['chunk_files'] || '–'), a.locked.join(', ') || 'none', String(a['chunks_done'] ?? 0),
        String(a['restarts'] ?? 0), String(a['tokens_in'] ?? 0), String(a['tokens_out'] ?? 0), `${String(a['last_event'] ?? '')} ${String(a['last_event_at'] ?? '')}`.trim() || '–']),
      { numeric: [5, 6, 7, 8], caption: 'Agents' }),
  ];
}

/** Farms: the farm jobs with their problems before and after over time, one farm's agents (chunk, locks, restarts, tokens) and problems; start and stop for roles that may. */
export async function farmsPage(ctx: PageContext): Promise<void> {
  const id = ctx.parts[0];
  const report = h('div');
  if (id !== undefined) {
    const body = h('div');
    const stop = may(ctx.role, 'submit') ? h('button', { type: 'button', class: 'danger', onclick: () => void (async () => {
      if (!(await confirmAction(`Stop farm ${id}?`, 'Its agents stop after their current step.', 'Stop it'))) return;
      const answer = await post<unknown>(`/farms/${encodeURIComponent(id)}/stop`, {});
      fill(report, answer.kind === 'ok' ? outcome('Stopping.') : answer.kind === 'missing' ? notAvailable('Stopping a farm') : failure(answer));
    })() }, 'Stop farm…') : null;
    fill(ctx.main, h('h1', {}, `Farm ${id}`), stop, report, body);
    const draw = async () => {
      const got = dataOr(await get<FarmStatus>(`/farms/${encodeURIComponent(id)}`), 'Farm status');
      if (!ctx.signal.aborted) fill(body, ...('data' in got ? farmView(id, got.data) : [got.shown]));
    };
    await draw();
    every(ctx, 5000, draw);
    return;
  }
  const start = may(ctx.role, 'submit') ? h('form', { class: 'filters' },
    h('label', {}, 'Repository path', h('input', { name: 'path', required: true })),
    h('label', {}, 'Problems command', h('input', { name: 'problems_command', placeholder: 'npx tsc --noEmit' })),
    h('label', {}, 'Agents', h('input', { name: 'agent_count', type: 'number', min: 1, value: 2 })),
    h('button', { type: 'submit', class: 'primary' }, 'Start farm…')) : null;
  start?.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      const data = new FormData(start);
      const path = String(data.get('path') ?? '').trim();
      if (!(await confirmAction(`Start a farm on ${path}?`, 'Its agents work on the repository in chunks until the problems are gone.', 'Start it'))) return;
      const problems = String(data.get('problems_command') ?? '').trim();
      const answer = await post<{ id: string }>('/farms', { path, agent_count: Number(data.get('agent_count')), ...(problems ? { problems_command: problems } : {}) });
      if (answer.kind === 'ok') location.hash = route('farms', answer.data.id);
      else fill(report, answer.kind === 'missing' ? notAvailable('Starting a farm') : failure(answer));
    })();
  });
  const [listed, runs] = await Promise.all([get<{ jobs: JobRow[] }>(`/jobs${query({ domain: 'farm', limit: 50 })}`), get<{ farms: FarmRun[] }>(`/farms${query({ limit: 50 })}`)]);
  const got = dataOr(listed, 'Farm list');
  const chart = dataOr(runs, 'Farms over time');
  fill(ctx.main, h('h1', {}, 'Farms'), start, report, 'data' in chart ? problemsChart(chart.data.farms) : chart.shown,
    !('data' in got) ? got.shown : got.data.jobs.length === 0 ? h('p', { class: 'muted' }, 'No farm yet.')
      : table(['farm', 'status', 'description', 'sent'], got.data.jobs.map((j) => [h('a', { href: route('farms', j.id) }, j.id), j.status, j.description ?? '', j.sent_at])));
}
