import { get, post } from '../api.js';
import { confirmAction, facts, h } from '../dom.js';
import type { PageContext } from '../page.js';
import { failure, may } from '../page.js';

/** GET /jobs/{id}/approval (src/api/approval-routes.ts approvalSchema). */
interface Approval {
  awaiting: boolean;
  plan: { domain?: string; description?: string; requirements?: string[]; verify?: unknown; route?: { domain: string; description: string; after: string[] }[] } | null;
  since: string | null;
  until: string | null;
}

/**
 * A task awaiting approval: its plan and window, and for keys with role approve the Approve and Reject
 * buttons (each confirmed; a rejection needs a reason). Empty for any other task. Text is set as text.
 */
export async function approvalPanel(ctx: PageContext, id: string, danStatus: string): Promise<HTMLElement | null> {
  if (danStatus !== 'awaiting_approval') return null;
  const path = `/jobs/${encodeURIComponent(id)}`;
  const answer = await get<Approval>(`${path}/approval`);
  if (answer.kind !== 'ok') return answer.kind === 'error' ? failure(answer) : null;
  const approval = answer.data;
  const report = h('div');
  const plan = approval.plan ?? {};
  const reason = h('input', { name: 'reason', 'aria-label': 'Reason for rejecting', placeholder: 'Why (required to reject)', maxlength: 1000 });
  const decide = async (verb: 'approve' | 'reject') => {
    const why = reason.value.trim();
    if (verb === 'reject' && why === '') { report.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'Say why it is rejected: the reason becomes its error.')); return; }
    const asked = verb === 'approve'
      ? await confirmAction(`Approve task ${id}?`, 'It is queued again and its work starts.', 'Approve it')
      : await confirmAction(`Reject task ${id}?`, `It ends failed (rejected): ${why}`, 'Reject it');
    if (!asked) return;
    const done = await post(`${path}/${verb}`, verb === 'reject' ? { reason: why } : {});
    if (done.kind === 'error') report.replaceChildren(failure(done));
    else ctx.reload();
  };
  const buttons = may(ctx.role, 'approve') ? h('div', { class: 'actions' },
    h('button', { type: 'button', class: 'primary', onclick: () => void decide('approve') }, 'Approve…'),
    reason,
    h('button', { type: 'button', class: 'danger', onclick: () => void decide('reject') }, 'Reject…'))
    : h('p', { class: 'muted' }, 'Awaiting approval: a key with role approve may decide.');
  return h('section', { 'aria-label': 'Approval' },
    h('h2', {}, 'Awaiting approval'),
    facts([
      ['domain', plan.domain ?? null], ['plan', plan.description ?? null],
      ['requirements', (plan.requirements ?? []).length === 0 ? null : h('ul', {}, ...(plan.requirements ?? []).map((r) => h('li', {}, r)))],
      ['checks', Array.isArray(plan.verify) ? plan.verify.map(String).join('; ') : null],
      // A routed task's sub-tasks, as main planned them before it parked: what approving starts.
      ['sub-tasks', (plan.route ?? []).length === 0 ? null : h('ol', { class: 'route' }, ...(plan.route ?? []).map((step) =>
        h('li', {}, h('strong', {}, step.domain), step.after.length ? ` (after ${step.after.join(', ')})` : '', `: ${step.description}`)))],
      ['waiting since', approval.since], ['window ends', approval.until],
    ]),
    buttons, report);
}
