import { get, post, query } from '../api.js';
import { confirmAction, fill, h, route, table } from '../dom.js';
import type { BulkResult, PageContext } from '../page.js';
import { bulkSummary, dataOr, failure, may, notAvailable, outcome } from '../page.js';

interface DeadLetter { ref: string; domain: string; dead_lettered_at: string | null; task_id: string | null; reason: string; raw: string }

/** Dead letters: what the network could not take, with retry (submit) and purge (admin; bulk purge per the API's rule). */
export async function deadLettersPage(ctx: PageContext): Promise<void> {
  const domain = ctx.params.get('domain') ?? '';
  const report = h('div');
  const act = async (question: string, detail: string, label: string, path: string, body: unknown, summarise: (data: unknown) => string) => {
    if (!(await confirmAction(question, detail, label))) return;
    const answer = await post<unknown>(path, body);
    if (answer.kind === 'missing') fill(report, notAvailable(label));
    else if (answer.kind === 'error') fill(report, failure(answer));
    else { fill(report, outcome(summarise(answer.data))); await draw(); }
  };
  const bulk = (verb: 'retry' | 'purge') => act(`${verb === 'retry' ? 'Retry' : 'Purge'} every dead letter${domain ? ` of ${domain}` : ''}?`,
    verb === 'retry' ? 'Each goes back on its queue.' : 'They are deleted for good.', verb === 'retry' ? 'Retry them' : 'Purge them',
    `/dead-letters/bulk/${verb}`, domain ? { domain } : {}, (data) => bulkSummary(verb === 'retry' ? 'retried' : 'purged', data as BulkResult));
  const form = h('form', { class: 'filters' }, h('label', {}, 'Domain', h('input', { name: 'domain', value: domain })), h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/dead-letters${query({ domain: String(new FormData(form).get('domain') ?? '').trim() })}`;
  });
  const list = h('div');
  fill(ctx.main, h('h1', {}, 'Dead letters'), form,
    may(ctx.role, 'submit') ? h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => void bulk('retry') }, 'Retry all shown…'),
      h('button', { type: 'button', class: 'danger', onclick: () => void bulk('purge') }, 'Purge all shown…')) : null,
    report, list);

  async function draw(): Promise<void> {
    const got = dataOr(await get<{ total: number; entries: DeadLetter[] }>(`/dead-letters${query({ domain, limit: 200 })}`), 'Dead letters');
    if (!('data' in got)) { fill(list, got.shown); return; }
    const { total, entries } = got.data;
    fill(list, entries.length === 0 ? h('p', { class: 'muted' }, 'No dead letters.') : table(
      ['entry', 'domain', 'task', 'reason', 'when', 'input', ...(may(ctx.role, 'submit') ? ['actions'] : [])],
      entries.map((e) => [
        e.ref, e.domain, e.task_id ? h('a', { href: route('task', e.task_id) }, e.task_id) : '', e.reason, e.dead_lettered_at ?? '',
        h('details', {}, h('summary', {}, 'raw input'), h('pre', {}, e.raw)),
        may(ctx.role, 'submit') ? h('div', { class: 'actions' },
          h('button', { type: 'button', 'data-retry': e.ref, onclick: () => void act(`Retry dead letter ${e.ref}?`, 'Its input goes back on its queue and the entry is removed.', 'Retry it',
            `/dead-letters/${encodeURIComponent(e.ref)}/retry`, {}, () => `Dead letter ${e.ref} queued again.`) }, 'Retry…'),
          may(ctx.role, 'admin') ? h('button', { type: 'button', class: 'danger', onclick: () => void act(`Purge dead letter ${e.ref}?`, 'It is deleted for good.', 'Purge it',
            '/dead-letters/purge', { refs: [e.ref] }, () => `Dead letter ${e.ref} purged.`) }, 'Purge…') : null) : null,
      ]), { caption: `${entries.length} of ${total} shown` }));
  }
  await draw();
}
