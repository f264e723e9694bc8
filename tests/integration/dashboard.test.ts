import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiKeys } from '../../lib/redis/api-keys.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { appendLog, getResult } from '../../lib/redis/task-store.js';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';
import type { TestBrowser } from '../support/browser.js';
import { describeBrowser, launchBrowser, screenshotDir, seriousViolations } from '../support/browser.js';

type Key = Awaited<ReturnType<TestApi['key']>>;

/** Markup an attacker would put in anything the dashboard shows; it must show as these characters. */
const XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)><b>bold?</b>';

/** Person's paths through the dashboard, in Debian's Chromium, against `dan serve`'s real HTTP server and a real Redis. */
describeBrowser('the dashboard in a real browser', () => {
  let api: TestApi;
  let browser: TestBrowser;
  let base: string;
  let submitter: Key;
  let reader: Key;
  let admin: Key;

  beforeAll(async () => {
    api = await startTestApi();
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
    submitter = await api.key('acme', 'submit');
    reader = await api.key('acme', 'read');
    admin = await api.key('acme', 'admin');
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  /** A job sent as a client would (POST /jobs with the submit key); its id. */
  async function send(description: string, domain = 'main'): Promise<string> {
    const reply = await api.app.inject({ method: 'POST', url: '/jobs', headers: { ...submitter.headers, 'content-type': 'application/json' }, payload: { description, domain } });
    expect(reply.statusCode, reply.body).toBe(202);
    return reply.json().id as string;
  }

  interface Opened { page: Page; dialogs: string[]; errors: string[]; requests: string[] }

  /** A new tab (so a new sessionStorage), signed in with `key`, at `hash`. */
  async function open(key: Key, hash = '#/'): Promise<Opened> {
    const page = await browser.context.newPage();
    const opened: Opened = { page, dialogs: [], errors: [], requests: [] };
    page.on('dialog', (dialog) => { opened.dialogs.push(dialog.message()); void dialog.dismiss(); });
    page.on('pageerror', (error) => opened.errors.push(String(error)));
    // Something the page's own CSP refused (an inline style, a script) is a fault of the page.
    page.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) opened.errors.push(message.text()); });
    page.on('request', (request) => opened.requests.push(request.url()));
    await page.goto(`${base}/${hash}`);
    await page.getByLabel('API key').fill(key.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#who').getByText('acme ·').waitFor();
    return opened;
  }

  // Strings, evaluated in the page: the tests are compiled without the DOM's types.
  const go = (page: Page, hash: string) => page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  // A locator, not waitForFunction: the page's CSP refuses the eval a string predicate needs.
  const loaded = (page: Page) => page.getByText('Loading…').waitFor({ state: 'hidden' });

  it('serves the page and its files without a key, with the security headers, and nothing from another origin', async () => {
    for (const url of ['/', '/ui/app.js', '/ui/style.css']) {
      const reply = await api.app.inject({ method: 'GET', url });
      expect(reply.statusCode, url).toBe(200);
      expect(reply.headers['content-security-policy']).toContain("script-src 'self'");
      expect(reply.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(reply.headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(reply.headers).toMatchObject({ 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
    }
    expect((await api.app.inject({ method: 'GET', url: '/ui/../package.json' })).statusCode).toBe(404);
    expect((await api.app.inject({ method: 'GET', url: '/ui/nothing.js' })).json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await api.app.inject({ method: 'GET', url: '/whoami', headers: reader.headers })).json()).toEqual({ client: 'acme', role: 'read', key_id: reader.id });

    const { page, requests, errors } = await open(submitter);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((url) => !url.startsWith(`${base}/`))).toEqual([]);
    // The key travels as a header, never in a URL.
    expect(requests.filter((url) => url.includes(submitter.key))).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('refuses a wrong key at sign-in with the API\'s message', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/`);
    await page.getByLabel('API key').fill('dan_not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/unknown or revoked/);
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(screenshotDir(), 'sign-in.png'), fullPage: true });
    await page.close();
  });

  it('finds a task by search, shows its log lines as they are written, and cancels it after a confirmation', async () => {
    await send('an unrelated task');
    const id = await send('rebuild the haystack index with a needle');
    const { page } = await open(submitter, '#/tasks');
    await page.getByLabel('Search descriptions').fill('needle');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('link', { name: id }).waitFor();
    expect(await page.locator('tbody tr').count()).toBe(1);
    await page.getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: `Task ${id}` }).waitFor();

    // Written after the page opened, by the function agents log through: each line shows up in order.
    const log = page.getByRole('list', { name: 'Log lines' });
    for (const n of [1, 2, 3]) {
      await appendLog(api.redis, api.keys, { taskId: id, agentId: 'backend-0000000a', domain: 'backend', message: `step ${n} of the needle` });
      await log.getByText(`step ${n} of the needle`).waitFor();
    }
    expect(await log.locator('li').allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/backend-0000000a: step 3 of the needle$/)]));

    await page.getByRole('button', { name: 'Cancel task…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(`Cancel task ${id}?`).waitFor();
    await dialog.getByRole('button', { name: 'Cancel it' }).click();
    await page.getByText('FAILED (failed)').waitFor();
    expect(await getResult(api.redis, api.keys, id)).toMatchObject({ status: 'failed' });
    await page.getByText('cancelled').first().waitFor();
    expect((await api.app.inject({ method: 'GET', url: `/jobs/${id}`, headers: reader.headers })).json()).toMatchObject({ failure_code: 'cancelled' });
    await page.close();
  });

  it('pages through the tasks newest first with "Older tasks"', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 52; i++) ids.push(await send(`paging batch item ${i}`));
    const { page } = await open(reader, `#/tasks?q=${encodeURIComponent('paging batch')}`);
    await page.getByText('50 shown, newest first').waitFor();
    await page.getByRole('button', { name: 'Older tasks' }).click();
    await page.getByText('52 shown, newest first').waitFor();
    const shown = await page.locator('tbody tr td:first-child').allTextContents();
    // Jobs sent in the same millisecond may list in either order: compare as sets (no gap, no repeat).
    expect([...shown].sort()).toEqual([...ids].sort());
    expect(shown.slice(0, 3)).not.toContain(ids[0]);
    expect(await page.getByRole('button', { name: 'Older tasks' }).count()).toBe(0);
    await page.close();
  });

  it('sends a task from the submit page after a confirmation, then shows its page', async () => {
    const { page } = await open(submitter, '#/submit');
    await page.getByLabel('What to do').fill('write the release notes');
    await page.getByLabel('Domain').fill('frontend');
    await page.getByLabel('Priority').selectOption('high');
    await page.getByRole('button', { name: 'Submit…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Send this task to frontend?').waitFor();
    await dialog.getByRole('button', { name: 'Send it' }).click();
    const heading = page.getByRole('heading', { name: /^Task / });
    await heading.waitFor();
    const id = ((await heading.textContent()) ?? '').replace(/^Task /, '');
    const listed = (await api.app.inject({ method: 'GET', url: `/jobs?q=${encodeURIComponent('release notes')}`, headers: reader.headers })).json();
    expect(listed.jobs).toEqual([expect.objectContaining({ id, domain: 'frontend', description: 'write the release notes', status: 'QUEUED' })]);
    expect((await api.redis.lrange(api.keys.pending('frontend'), 0, -1)).find((raw) => raw.includes(id))).toContain('"priority":"high"');
    await page.close();
  });

  it('sends a revoked key back to the sign-in form', async () => {
    const doomed = await api.key('acme', 'submit');
    const { page } = await open(doomed, '#/tasks');
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    expect((await api.app.inject({ method: 'GET', url: '/whoami', headers: admin.headers })).statusCode).toBe(200);
    await new ApiKeys(api.redis, api.keys).revoke(doomed.id);
    await go(page, '#/');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/unknown or revoked/);
    await page.close();
  });

  it('queues a dead letter again from the dead-letters page', async () => {
    const id = await send('work for a queue that was full', 'backend');
    const queue = new TaskQueue(api.redis, api.keys, queueOptions(api.config, 'backend', 'main-test'));
    expect(await queue.deadLetterPending('the queue was full')).toBe(1);
    const { page } = await open(submitter, '#/dead-letters');
    await page.getByRole('link', { name: id }).waitFor();
    await page.locator(`button[data-retry]`).first().click();
    await page.getByRole('dialog').getByRole('button', { name: 'Retry it' }).click();
    await page.getByRole('status').getByText('queued again').waitFor();
    expect(await getResult(api.redis, api.keys, id)).toMatchObject({ status: 'pending' });
    expect((await api.app.inject({ method: 'GET', url: '/dead-letters?domain=backend', headers: reader.headers })).json()).toMatchObject({ total: 0 });
    await page.close();
  });

  it('shows a read-only key no action anywhere', async () => {
    const id = await send('a task a reader looks at');
    const { page } = await open(reader);
    expect(await page.locator('#nav').getByRole('link', { name: 'Submit' }).count()).toBe(0);
    const visible = async () => (await page.locator('main button').allTextContents()).filter((t) => !['Filter', 'Older tasks'].includes(t));
    for (const hash of ['#/', '#/tasks', `#/task/${id}`, '#/dead-letters', '#/farms', '#/memory', '#/history', '#/submit']) {
      await go(page, hash);
      await page.locator('main h1').first().waitFor();
      await loaded(page);
      expect(await visible(), hash).toEqual([]);
    }
    await page.close();
  });

  it('shows markup in a description, a log line and a file name as text, and runs none of it', async () => {
    const id = await send(`describe ${XSS}`);
    await appendLog(api.redis, api.keys, { taskId: id, agentId: 'backend-0000000a', domain: 'backend', message: `log ${XSS}` });
    const { page, dialogs, errors } = await open(submitter, `#/tasks?q=${encodeURIComponent('describe')}`);
    await page.getByText(`describe ${XSS}`).waitFor();
    // GET /jobs/{id}/diff comes with the jobs-extras endpoints; until this server has it, its answer is
    // the one that endpoint gives (`dan diff --json`), so the file name in it is what is under test.
    const diff = `diff --git a/src/${XSS}.ts b/src/${XSS}.ts\n--- a/src/x.ts\n+++ b/src/x.ts\n@@ -1 +1 @@\n-old\n+new ${XSS}\n`;
    await page.route(`${base}/jobs/${id}/diff`, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify([{ task_id: id, repository: '/r', branch: `dan/${id}`, base_commit: 'a'.repeat(40), commit: 'b'.repeat(40), delivery: {}, diff }]) }));
    await go(page, `#/task/${id}`);
    await page.getByRole('list', { name: 'Log lines' }).getByText(`log ${XSS}`).waitFor();
    await page.getByRole('list', { name: 'Files changed' }).getByText(`src/${XSS}.ts`).waitFor();
    expect(await page.locator('main script, main img, main b').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('never shows a secret the logger would redact, in a description or a dead letter', async () => {
    const secret = 'sk-ant-api03-abcdefghijklmnop0123456789';
    const id = await send(`deploy with ${secret} please`, 'devops');
    const queue = new TaskQueue(api.redis, api.keys, queueOptions(api.config, 'devops', 'main-test'));
    expect(await queue.deadLetterPending(`refused ${secret}`)).toBe(1);
    const { page } = await open(submitter, '#/tasks?q=deploy');
    await page.getByText('deploy with [redacted] please').waitFor();
    await go(page, '#/dead-letters');
    await page.getByRole('link', { name: id }).waitFor();
    await page.getByText('raw input').first().click();
    await page.getByText('refused [redacted]').waitFor();
    await page.getByText('deploy with [redacted] please', { exact: false }).last().waitFor();
    expect(await page.locator('main').textContent()).not.toContain(secret);
    await page.close();
  });

  it('draws the timeline and the history charts from their endpoints\' answers', async () => {
    // These endpoints come with other slices; their answers here are shaped as the contracts say.
    const id = await send('a task with a timeline');
    const t = (s: number) => new Date(Date.parse('2026-12-07T10:00:00Z') + s * 1000).toISOString();
    const span = (sid: string, parent: string | null, kind: string, name: string, from: number, to: number | null, status: string | null) =>
      ({ id: sid, parent_id: parent, kind, name, task_id: id, agent_id: 'backend-0000000a', start: t(from), end: to === null ? null : t(to), duration_ms: to === null ? null : (to - from) * 1000, status });
    const spans = [
      span('a1', null, 'attempt', 'attempt 1', 0, 30, 'timeout'), span('m1', 'a1', 'model_call', `model ${XSS}`, 1, 20, 'ok'),
      span('a2', null, 'attempt', 'attempt 2', 31, 50, 'completed'), span('c1', 'a2', 'check', 'npm test', 45, 50, 'passed'),
    ];
    const buckets = Array.from({ length: 24 }, (_, i) => ({ start: t(i * 3600), completed: i % 5, failed: i % 3 === 0 ? 1 : 0, p95_ms: i % 4 === 0 ? null : 1000 + i * 100 }));
    const { page, dialogs, errors } = await open(submitter);
    await page.route(`${base}/jobs/${id}/timeline`, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ job_id: id, spans }) }));
    await page.route(`${base}/history?window=24h`, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ window: '24h', bucket_seconds: 3600, domains: { backend: buckets } }) }));
    await go(page, `#/task/${id}`);
    const timeline = page.getByRole('list', { name: /^Timeline, 50\.0 s in all$/ });
    await timeline.waitFor();
    expect(await timeline.getByRole('listitem').count()).toBe(4);
    await timeline.getByText(`model call: model ${XSS}`).waitFor();
    await page.getByRole('cell', { name: 'timeout' }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(screenshotDir(), 'task-timeline.png'), fullPage: true });
    await go(page, '#/history');
    await page.getByRole('img', { name: 'backend throughput' }).waitFor();
    expect(await page.locator('svg[aria-label="backend throughput"] rect').count()).toBe(24);
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(screenshotDir(), 'history-charts.png'), fullPage: true });
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('passes an accessibility check on every page, says which views this server lacks, and leaves a screenshot of each', async () => {
    const id = await send('a task for the screenshots');
    await send('waiting where no agent serves', 'frontend');
    await appendLog(api.redis, api.keys, { taskId: id, agentId: 'main-0000000a', domain: 'main', message: 'routed to backend' });
    const { page, errors } = await open(admin);
    await page.getByText('Domain frontend has tasks waiting and no live agent', { exact: false }).waitFor();
    const dir = screenshotDir();
    const pages: Array<[string, string, string]> = [
      ['overview', '#/', 'Overview'], ['tasks', '#/tasks', 'Tasks'], ['task', `#/task/${id}`, `Task ${id}`], ['submit', '#/submit', 'Submit a task'],
      ['dead-letters', '#/dead-letters', 'Dead letters'], ['farms', '#/farms', 'Farms'], ['memory', '#/memory', 'Memory'], ['history', '#/history', 'History'],
    ];
    for (const [name, hash, heading] of pages) {
      await go(page, hash);
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      await loaded(page);
      expect(await seriousViolations(page), name).toEqual([]);
      await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
    }
    // The views whose endpoints this server does not have say so instead of showing anything made up.
    for (const [hash, what] of [['#/memory', 'Heuristics'], ['#/history', 'History'], [`#/task/${id}`, 'Timeline']] as const) {
      await go(page, hash);
      await page.locator(`[data-missing="${what}"]`).waitFor();
    }
    await page.setViewportSize({ width: 390, height: 844 });
    await go(page, '#/');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(dir, 'overview-phone.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });
});
