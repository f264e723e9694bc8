import { get, post, query } from '../api.js';
import { confirmAction, fill, h, route, table } from '../dom.js';
import type { BulkResult, PageContext } from '../page.js';
import { bulkSummary, dataOr, failure, may, notAvailable, outcome } from '../page.js';

export interface JobRow {
  id: string; status: string; client: string; dan_status: string; domain: string | null; parent: string | null; description: string | null;
  sent_at: string; started_at: string | null; completed_at: string | null; error: string | null; failure_code: string | null; attempts: number | null;
}

/** `client` is asked of admin keys only: the API answers any other key's `client` with 403. */
const FILTERS = ['status', 'domain', 'parent', 'since', 'until', 'q', 'client'] as const;
const PAGE_SIZE = 50;

function row(job: JobRow) {
  return [
    h('a', { href: route('task', job.id) }, job.id),
    h('span', { class: `status-${job.status}` }, job.status),
    job.client,
    job.domain ?? '',
    job.description ?? '',
    new Date(job.sent_at).toLocaleString(),
    job.failure_code ?? '',
  ];
}

/** Tasks: GET /jobs newest first with its filters, cursor paging, and bulk cancel/retry of what the filter matches. */
export async function tasksPage(ctx: PageContext): Promise<void> {
  const admin = ctx.role === 'admin';
  const shownFilters = FILTERS.filter((f) => f !== 'client' || admin);
  const filter = Object.fromEntries(shownFilters.map((f) => [f, ctx.params.get(f) ?? ''])) as Partial<Record<(typeof FILTERS)[number], string>>;
  const input = (name: (typeof FILTERS)[number], label: string, placeholder = '') =>
    h('label', {}, label, h('input', { name, value: filter[name] ?? '', placeholder, ...(name === 'q' ? { type: 'search' } : {}) }));
  const status = h('select', { name: 'status' }, ...['', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED'].map((s) => h('option', { value: s, ...(s === filter.status ? { selected: true } : {}) }, s === '' ? 'any' : s)));
  const form = h('form', { class: 'filters', role: 'search' },
    input('q', 'Search descriptions'), h('label', {}, 'Status', status), input('domain', 'Domain'), input('parent', 'Parent task'),
    input('since', 'Sent since', 'ISO time'), input('until', 'Sent until', 'ISO time'),
    admin ? input('client', 'Client', `${ctx.client} (yours)`) : null,
    h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    location.hash = `#/tasks${query(Object.fromEntries(shownFilters.map((f) => [f, String(data.get(f) ?? '').trim()])))}`;
  });
  const report = h('div');
  const results = h('div');
  const more = h('div');
  const actions = may(ctx.role, 'submit') ? h('div', { class: 'actions' },
    h('button', { type: 'button', onclick: () => void bulk('cancel') }, 'Cancel all matching…'),
    h('button', { type: 'button', onclick: () => void bulk('retry') }, 'Retry all matching…')) : null;
  fill(ctx.main, h('h1', {}, 'Tasks'), form, actions, report, results, more);

  const body = () => Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined && v !== ''));
  async function bulk(verb: 'cancel' | 'retry'): Promise<void> {
    const shown = Object.entries(body()).map(([k, v]) => `${k}=${v}`).join(', ') || `no filter: every task of client ${ctx.client}`;
    if (!(await confirmAction(`${verb === 'cancel' ? 'Cancel' : 'Retry'} every matching task?`, `Filter: ${shown}. At most 1000 tasks.`, verb === 'cancel' ? 'Cancel them' : 'Retry them'))) return;
    const answer = await post<BulkResult>(`/jobs/bulk/${verb}`, body());
    if (answer.kind === 'missing') fill(report, notAvailable(`Bulk ${verb}`));
    else if (answer.kind === 'error') fill(report, failure(answer));
    else {
      // The list is read again under the report (a reload of the page would wipe what the action did).
      fill(report, outcome(bulkSummary(verb === 'cancel' ? 'cancelled' : 'retried', answer.data)));
      rows.length = 0;
      await load();
    }
  }

  const rows: JobRow[] = [];
  const load = async (cursor?: string) => {
    const answer = await get<{ jobs: JobRow[]; next_cursor: string | null }>(`/jobs${query({ ...body(), limit: PAGE_SIZE, cursor })}`);
    const got = dataOr(answer, 'Task list');
    if (!('data' in got)) { fill(results, got.shown); return; }
    rows.push(...got.data.jobs);
    fill(results, rows.length === 0 ? h('p', { class: 'muted' }, 'No task matches.') :
      table(['task', 'status', 'client', 'domain', 'description', 'sent', 'failure'], rows.map(row), { caption: `${rows.length} shown, newest first` }));
    const next = got.data.next_cursor;
    fill(more, next === null ? null : h('button', { type: 'button', onclick: () => void load(next) }, 'Older tasks'));
  };
  await load();
}
