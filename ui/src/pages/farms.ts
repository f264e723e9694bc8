import { get, post, query } from '../api.js';
import { confirmAction, facts, fill, h, route, table } from '../dom.js';
import type { PageContext } from '../page.js';
import { dataOr, every, failure, may, notAvailable, outcome } from '../page.js';
import type { JobRow } from './tasks.js';

interface FarmStatus { farm: Record<string, string>; agents: Array<Record<string, unknown> & { name: string; locked: string[] }> }

function farmView(id: string, status: FarmStatus): HTMLElement[] {
  const f = status.farm;
  return [
    facts([
      ['status', f['status']], ['path', f['path']], ['runtime', f['runtime']],
      // problems_after is measured once, as the farm ends; the API keeps no series of it.
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

/** Farms: the farm jobs, one farm's agents (chunk, locks, restarts, tokens) and problems; start and stop for roles that may. */
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
  const got = dataOr(await get<{ jobs: JobRow[] }>(`/jobs${query({ domain: 'farm', limit: 50 })}`), 'Farm list');
  fill(ctx.main, h('h1', {}, 'Farms'), start, report,
    !('data' in got) ? got.shown : got.data.jobs.length === 0 ? h('p', { class: 'muted' }, 'No farm yet.')
      : table(['farm', 'status', 'description', 'sent'], got.data.jobs.map((j) => [h('a', { href: route('farms', j.id) }, j.id), j.status, j.description ?? '', j.sent_at])));
}
