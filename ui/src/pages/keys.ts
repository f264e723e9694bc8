import { call, get, post } from '../api.js';
import { confirmAction, fill, h, table } from '../dom.js';
import type { PageContext } from '../page.js';
import { dataOr, failure, may, notAvailable, outcome } from '../page.js';

interface ApiKeyView { id: string; client: string; role: string; rpm: number | null; max_in_flight: number | null; created_at: string }
interface CreatedKey extends Omit<ApiKeyView, 'created_at'> { key: string }

const ROLES: Array<[string, string]> = [
  ['read', 'read: sees its client\'s jobs'],
  ['submit', 'submit: also sends, cancels and retries'],
  ['admin', 'admin: everything, for every client'],
  ['metrics', 'metrics: only GET /metrics, for Prometheus'],
];

/** A whole number typed in a form field, or undefined when it is left empty. */
function limitOf(value: FormDataEntryValue | null): number | undefined {
  const text = String(value ?? '').trim();
  return text === '' ? undefined : Number(text);
}

/**
 * Keys (admin): the keys of the admin's own client, as POST/GET/DELETE /keys give them. A new key's
 * secret is shown once, in this page only, and kept nowhere (the server keeps only its hash).
 */
export async function keysPage(ctx: PageContext): Promise<void> {
  if (!may(ctx.role, 'admin')) {
    fill(ctx.main, h('h1', {}, 'Keys'), h('p', {}, 'Only an admin key manages keys: ask an operator for one.'));
    return;
  }
  const report = h('div');
  const list = h('div');
  const form = h('form', { class: 'filters' },
    h('label', {}, 'Role', h('select', { name: 'role' }, ...ROLES.map(([value, text]) => h('option', { value, ...(value === 'submit' ? { selected: true } : {}) }, text)))),
    h('label', {}, 'Requests per minute', h('input', { name: 'rpm', type: 'number', min: 0, step: 1, placeholder: 'server setting' })),
    h('label', {}, 'Jobs in flight', h('input', { name: 'max_in_flight', type: 'number', min: 0, step: 1, placeholder: 'server setting' })),
    h('button', { type: 'submit', class: 'primary' }, 'Create key…'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      const data = new FormData(form);
      const role = String(data.get('role') ?? 'submit');
      if (!(await confirmAction(`Create a ${role} key for client ${ctx.client}?`, 'Its secret is shown once, on this page: store it before you leave.', 'Create it'))) return;
      const rpm = limitOf(data.get('rpm'));
      const maxInFlight = limitOf(data.get('max_in_flight'));
      const answer = await post<CreatedKey>('/keys', { role, ...(rpm !== undefined ? { rpm } : {}), ...(maxInFlight !== undefined ? { max_in_flight: maxInFlight } : {}) });
      if (answer.kind === 'missing') { fill(report, notAvailable('Keys')); return; }
      if (answer.kind === 'error') { fill(report, failure(answer)); return; }
      const created = answer.data;
      fill(report, h('div', { class: 'warning', role: 'status', 'data-new-key': created.id },
        h('p', {}, `Key ${created.id} (role ${created.role}) for client ${created.client}. Shown this once: copy it now, it cannot be shown again.`),
        h('label', {}, 'New key', h('input', { readonly: true, value: created.key, size: 60, spellcheck: 'false', autocomplete: 'off' }))));
      await draw();
    })();
  });
  fill(ctx.main, h('h1', {}, 'Keys'),
    h('p', { class: 'muted' }, `Keys of client ${ctx.client}. Only a hash of each is kept; a revoked key is refused by every dan serve at its next request.`),
    form, report, list);

  async function revoke(key: ApiKeyView): Promise<void> {
    const own = key.id === ctx.keyId;
    if (!(await confirmAction(`Revoke key ${key.id}?`, own ? 'This is the key you are signed in with: this page signs you out.' : 'Its next request is refused.', 'Revoke it'))) return;
    const answer = await call<undefined>('DELETE', `/keys/${encodeURIComponent(key.id)}`);
    if (answer.kind === 'missing') fill(report, notAvailable('Keys'));
    else if (answer.kind === 'error') fill(report, failure(answer));
    else { fill(report, outcome(`Key ${key.id} revoked.`)); await draw(); }
  }

  async function draw(): Promise<void> {
    const got = dataOr(await get<ApiKeyView[]>('/keys'), 'Keys');
    if (!('data' in got)) { fill(list, got.shown); return; }
    const limit = (n: number | null) => (n === null ? h('span', { class: 'muted' }, 'setting') : n === 0 ? 'none' : n);
    fill(list, got.data.length === 0 ? h('p', { class: 'muted' }, 'No keys.') : table(
      ['id', 'role', 'requests/min', 'jobs in flight', 'created', 'actions'],
      got.data.map((k) => [
        k.id === ctx.keyId ? h('span', {}, k.id, h('span', { class: 'muted' }, ' (this key)')) : k.id,
        k.role, limit(k.rpm), limit(k.max_in_flight), k.created_at,
        h('button', { type: 'button', class: 'danger', 'data-revoke': k.id, 'aria-label': `Revoke key ${k.id}`, onclick: () => void revoke(k) }, 'Revoke…'),
      ]), { numeric: [2, 3], caption: `${got.data.length} key${got.data.length === 1 ? '' : 's'}, oldest first` }));
  }
  await draw();
}
