import { post } from '../api.js';
import { confirmAction, fill, h, route } from '../dom.js';
import type { PageContext } from '../page.js';
import { failure, may, notAvailable } from '../page.js';

/** Submit: POST /jobs with what `dan send` takes; on success, the new task's page. */
export async function submitPage(ctx: PageContext): Promise<void> {
  if (!may(ctx.role, 'submit')) { fill(ctx.main, h('h1', {}, 'Submit'), h('p', {}, 'Your key may only read: ask an operator for a key with role submit.')); return; }
  const report = h('div');
  const form = h('form', {},
    h('label', {}, 'What to do', h('textarea', { name: 'description', required: true, rows: 6 })),
    h('div', { class: 'row' },
      h('label', {}, 'Domain', h('input', { name: 'domain', value: 'main', placeholder: 'main routes it' })),
      h('label', {}, 'Priority', h('select', { name: 'priority' }, h('option', { value: 'normal' }, 'normal'), h('option', { value: 'high' }, 'high'), h('option', { value: 'low' }, 'low'))),
      h('label', {}, 'Timeout (s)', h('input', { name: 'timeout_seconds', type: 'number', min: 1, value: 300 })),
      h('button', { type: 'submit', class: 'primary' }, 'Submit…')),
    report);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      const data = new FormData(form);
      const description = String(data.get('description') ?? '').trim();
      const domain = String(data.get('domain') ?? '').trim() || 'main';
      if (!(await confirmAction(`Send this task to ${domain}?`, description.slice(0, 300), 'Send it'))) return;
      const answer = await post<{ id: string }>('/jobs', {
        description, domain, priority: String(data.get('priority')), timeout_seconds: Number(data.get('timeout_seconds')),
      });
      if (answer.kind === 'ok') location.hash = route('task', answer.data.id);
      else fill(report, answer.kind === 'missing' ? notAvailable('Submit') : failure(answer));
    })();
  });
  fill(ctx.main, h('h1', {}, 'Submit a task'), form);
}
