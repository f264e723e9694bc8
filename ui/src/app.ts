import { get, storedKey, storeKey, UNAUTHORIZED } from './api.js';
import { fill, h } from './dom.js';
import type { Page, PageContext, Role } from './page.js';
import { may } from './page.js';
import { deadLettersPage } from './pages/dead-letters.js';
import { farmsPage } from './pages/farms.js';
import { historyPage } from './pages/history.js';
import { keysPage } from './pages/keys.js';
import { memoryPage } from './pages/memory.js';
import { overviewPage } from './pages/overview.js';
import { submitPage } from './pages/submit.js';
import { taskPage } from './pages/task.js';
import { tasksPage } from './pages/tasks.js';

/** The pages by the first part of the hash route; the nav lists those with a label. */
const PAGES: Array<{ path: string; label?: string; page: Page; needs?: Role }> = [
  { path: '', label: 'Overview', page: overviewPage },
  { path: 'tasks', label: 'Tasks', page: tasksPage },
  { path: 'task', page: taskPage },
  { path: 'submit', label: 'Submit', page: submitPage, needs: 'submit' },
  { path: 'dead-letters', label: 'Dead letters', page: deadLettersPage },
  { path: 'farms', label: 'Farms', page: farmsPage },
  { path: 'memory', label: 'Memory', page: memoryPage },
  { path: 'history', label: 'History', page: historyPage },
  { path: 'keys', label: 'Keys', page: keysPage, needs: 'admin' },
];

interface Session { client: string; role: Role; key_id: string | null }

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
let session: Session | undefined;
let leave = new AbortController();

function signOut(): void {
  storeKey(null);
  session = undefined;
  void render();
}

function signInForm(message?: string): void {
  fill(nav);
  fill(who);
  const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', spellcheck: 'false', size: 44 });
  const form = h('form', { class: 'signin' },
    h('h1', {}, 'Sign in'),
    h('p', {}, "Type an API key (an operator makes one with 'dan keys create --client NAME --role read|submit|admin'). It stays in this tab only and is sent as a header on each call. While no key exists on a loopback server, leave it empty."),
    h('label', { for: 'api-key' }, 'API key', input),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
    message ? h('p', { class: 'error', role: 'alert' }, message) : null);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    storeKey(input.value.trim());
    void render();
  });
  fill(main, form);
  input.focus();
}

/** Who the stored key is; undefined (and the sign-in form shown) when it is refused. */
async function signIn(): Promise<Session | undefined> {
  if (storedKey() === null) {
    signInForm();
    return undefined;
  }
  const answer = await get<Session>('/whoami');
  if (answer.kind === 'ok') return answer.data;
  storeKey(null);
  signInForm(answer.kind === 'missing' ? 'this server has no /whoami: it is older than the dashboard; update dan' : answer.message);
  return undefined;
}

function drawChrome(current: string, me: Session): void {
  fill(nav, ...PAGES.filter((p) => p.label !== undefined && (p.needs === undefined || may(me.role, p.needs)))
    .map((p) => h('a', { href: `#/${p.path}`, ...(p.path === current || (current === 'task' && p.path === 'tasks') ? { 'aria-current': 'page' } : {}) }, p.label ?? '')));
  fill(who, h('span', { 'data-role': me.role }, `${me.client} · ${me.role}`), h('button', { type: 'button', onclick: signOut }, 'Sign out'));
}

async function render(): Promise<void> {
  leave.abort();
  leave = new AbortController();
  session ??= await signIn();
  if (session === undefined) return;
  const [path = '', ...rest] = location.hash.replace(/^#\/?/, '').split('?')[0]!.split('/');
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const entry = PAGES.find((p) => p.path === path) ?? PAGES[0]!;
  drawChrome(entry.path, session);
  const me = session;
  const ctx: PageContext = {
    main, parts: rest.map((p) => decodeURIComponent(p)), params, role: me.role, client: me.client, keyId: me.key_id, signal: leave.signal,
    reload: () => { void render(); },
  };
  fill(main, h('p', { class: 'muted' }, 'Loading…'));
  try {
    await entry.page(ctx);
  } catch (error) {
    fill(main, h('p', { class: 'error', role: 'alert' }, `This page failed: ${String(error)}`));
  }
  document.title = `dan · ${entry.label ?? 'Task'}`;
}

window.addEventListener('hashchange', () => { void render(); });
window.addEventListener(UNAUTHORIZED, (event) => {
  if (session === undefined) return;
  leave.abort();
  session = undefined;
  storeKey(null);
  signInForm((event as CustomEvent<string>).detail);
});
void render();
