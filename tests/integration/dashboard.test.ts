import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Config } from '../../lib/config.js';
import { FarmStore } from '../../lib/farm/farm-store.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import { silentLogger } from '../../lib/logger.js';
import { ApiKeys } from '../../lib/redis/api-keys.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { appendLog, getResult } from '../../lib/redis/task-store.js';
import { parkForApproval } from '../../lib/redis/approvals.js';
import { buildApiServer } from '../../src/api/api-server.js';
import type { RunningElf } from '../../src/elf/elf-service.js';
import { startElfService } from '../../src/elf/elf-service.js';
import type { TimelineSpan } from '../../src/operations/task-timeline.js';
import type { TestKey } from '../support/api.js';
import { createTestKey } from '../support/api.js';
import type { TestBrowser } from '../support/browser.js';
import { describeBrowser, launchBrowser, screenshotDir, seriousViolations } from '../support/browser.js';
import type { TestNetwork } from '../support/network.js';
import { SUM_CHECK } from '../support/sum-rules.js';
import { SUM_LESSON, runVerifiedJobs } from '../support/verified-job.js';

type Key = TestKey;

/** Markup an attacker would put in anything the dashboard shows; it must show as these characters. */
const XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)><b>bold?</b>';
/** Markup in a file name: a name cannot hold '/', so no closing tags. */
const MARKUP_FILE = '<img src=x onerror=alert(2)><svg onload=alert(3)>.js';

/** The verified job's worker writes a file named with markup besides its broken sum.js, on its first round only. */
const markupFileRule: Rule = {
  name: 'a file named with markup, then broken code', times: 1,
  when: { lastUser: '^Task: repairable: markup', hasToolResult: false, tool: 'Write' },
  reply: { tool_use: [
    { name: 'Write', input: { file_path: MARKUP_FILE, content: 'markup\n' } },
    { name: 'Write', input: { file_path: 'sum.js', content: 'module.exports = (a, b) => a - b; // broken\n' } },
  ] },
};

/** `config` whose API waits `timeoutMs` for the ELF memory's answer. */
const elfTimeout = (config: Config, timeoutMs: number): Config => ({ ...config, elf: { ...config.elf, timeoutMs } });

/**
 * Person's paths through the dashboard, in Debian's Chromium, against `dan serve`'s real HTTP server
 * and a real Redis, over jobs a real network ran (main, a backend agent, the local model server, real
 * git, the ELF memory): their diff, checks, timeline, lessons and history are what that run left.
 */
describeBrowser('the dashboard in a real browser', () => {
  let network: TestNetwork;
  let app: FastifyInstance;
  let elf: RunningElf;
  let browser: TestBrowser;
  let base: string;
  let submitter: Key;
  let reader: Key;
  let admin: Key;
  /** A verified backend job in a git repository: failed its check once, repaired, passed; its description holds markup. */
  let verified: string;
  /** A job main routed to one backend sub-task. */
  let routed: string;

  beforeAll(async () => {
    ({ network, verified, routed } = await runVerifiedJobs({ extraRules: [markupFileRule], description: `repairable: markup, add a sum function ${XSS}` }));
    // The network's work is done: what follows reads what it left, with this test's own processes (a
    // running main would route the tasks the tests send to main, and start agents for waiting domains).
    await network.halt();
    elf = await startElfService({ config: network.config, agentId: 'elf-dashint00', logger: silentLogger });
    // 20 s: an ELF on a busy machine still answers; the page when none runs has its own test below.
    app = await buildApiServer({ redis: network.redis, keys: network.keys, config: elfTimeout(network.config, 20_000), logger: silentLogger });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    submitter = await createTestKey(network.redis, network.keys, 'acme', 'submit');
    reader = await createTestKey(network.redis, network.keys, 'acme', 'read');
    admin = await createTestKey(network.redis, network.keys, 'acme', 'admin');
    browser = await launchBrowser();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await elf?.stop();
    await network?.stop();
  });

  const inject = (url: string, key: Key = reader) => app.inject({ method: 'GET', url, headers: key.headers });

  /** A job sent as a client would (POST /jobs with the submit key); its id. */
  async function send(description: string, domain = 'main'): Promise<string> {
    const reply = await app.inject({ method: 'POST', url: '/jobs', headers: { ...submitter.headers, 'content-type': 'application/json' }, payload: { description, domain } });
    expect(reply.statusCode, reply.body).toBe(202);
    return reply.json().id as string;
  }

  interface Opened { page: Page; dialogs: string[]; errors: string[]; requests: string[] }

  /** A new tab (so a new sessionStorage), signed in with `key`, at `hash`. */
  async function open(key: Key, hash = '#/', at = base): Promise<Opened> {
    const page = await browser.context.newPage();
    const opened: Opened = { page, dialogs: [], errors: [], requests: [] };
    page.on('dialog', (dialog) => { opened.dialogs.push(dialog.message()); void dialog.dismiss(); });
    page.on('pageerror', (error) => opened.errors.push(String(error)));
    // Something the page's own CSP refused (an inline style, a script) is a fault of the page.
    page.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) opened.errors.push(message.text()); });
    page.on('request', (request) => opened.requests.push(request.url()));
    await page.goto(`${at}/${hash}`);
    await page.getByLabel('API key').fill(key.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#who').getByText('acme ·').waitFor();
    return opened;
  }

  // Strings, evaluated in the page: the tests are compiled without the DOM's types.
  const go = (page: Page, hash: string) => page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  // A locator, not waitForFunction: the page's CSP refuses the eval a string predicate needs.
  const loaded = (page: Page) => page.getByText('Loading…').waitFor({ state: 'hidden' });
  /** A table's body cells, row by row, as their text. */
  const cells = async (table: Locator) => {
    await table.locator('tbody tr').first().waitFor();
    return Promise.all((await table.locator('tbody tr').all()).map((row) => row.locator('td').allTextContents()));
  };

  it('serves the page and its files without a key, with the security headers, and nothing from another origin', async () => {
    for (const url of ['/', '/ui/app.js', '/ui/style.css']) {
      const reply = await app.inject({ method: 'GET', url });
      expect(reply.statusCode, url).toBe(200);
      expect(reply.headers['content-security-policy']).toContain("script-src 'self'");
      expect(reply.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(reply.headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(reply.headers).toMatchObject({ 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
    }
    expect((await app.inject({ method: 'GET', url: '/ui/../package.json' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/ui/nothing.js' })).json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await app.inject({ method: 'GET', url: '/whoami', headers: reader.headers })).json()).toEqual({ client: 'acme', role: 'read', key_id: reader.id });

    const { page, requests, errors } = await open(submitter);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // Today's spend from GET /cost, on the first page a person sees.
    await page.getByRole('heading', { name: 'Cost today' }).waitFor();
    await page.getByText(/model call\(s\) today \(UTC\)/).waitFor();
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
    // The unfiltered list may still be on the page, or be redrawn, when the click lands: wait for the
    // filtered one (one row) rather than read the rows once.
    await expect.poll(() => page.locator('tbody tr').count(), { timeout: 30_000 }).toBe(1);
    await page.getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: `Task ${id}` }).waitFor();

    // Written after the page opened, by the function agents log through: each line shows up in order.
    const log = page.getByRole('list', { name: 'Log lines' });
    for (const n of [1, 2, 3]) {
      await appendLog(network.redis, network.keys, { taskId: id, agentId: 'backend-0000000a', domain: 'backend', message: `step ${n} of the needle` });
      await log.getByText(`step ${n} of the needle`).waitFor();
    }
    expect(await log.locator('li').allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/backend-0000000a: step 3 of the needle$/)]));

    await page.getByRole('button', { name: 'Cancel task…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(`Cancel task ${id}?`).waitFor();
    await dialog.getByRole('button', { name: 'Cancel it' }).click();
    await page.getByText('FAILED (failed)').waitFor();
    expect(await getResult(network.redis, network.keys, id)).toMatchObject({ status: 'failed' });
    await page.getByText('cancelled').first().waitFor();
    expect((await app.inject({ method: 'GET', url: `/jobs/${id}`, headers: reader.headers })).json()).toMatchObject({ failure_code: 'cancelled' });
    // Cancelled while it waited, it has no input kept to send again: the API's refusal, as it says it.
    await page.getByRole('button', { name: 'Retry task…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Retry it' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/\(not_retryable\)$/);
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

  it("lets an admin key filter the task list by client and open another client's task; other keys get no Client field", async () => {
    const globex = await createTestKey(network.redis, network.keys, 'globex', 'submit');
    const sent = await app.inject({ method: 'POST', url: '/jobs', headers: { ...globex.headers, 'content-type': 'application/json' }, payload: { description: 'globex inventory count' } });
    expect(sent.statusCode, sent.body).toBe(202);
    const theirs = sent.json().id as string;

    const other = await open(reader, '#/tasks');
    await other.page.getByRole('button', { name: 'Filter' }).waitFor();
    expect(await other.page.getByLabel('Client', { exact: true }).count()).toBe(0);
    await other.page.close();

    const { page } = await open(admin, '#/tasks');
    await page.getByLabel('Client', { exact: true }).fill('globex');
    await page.getByRole('button', { name: 'Filter' }).click();
    // acme's list never holds globex's task: its link is the filtered list.
    await page.getByRole('link', { name: theirs }).waitFor();
    expect(await cells(page.locator('main table'))).toEqual([[theirs, 'QUEUED', 'globex', 'main', 'globex inventory count', expect.any(String), '']]);
    await page.getByRole('link', { name: theirs }).click();
    await page.getByRole('heading', { name: `Task ${theirs}` }).waitFor();
    const facts = page.locator('dl.facts').first();
    await expect(facts.locator('dt', { hasText: /^client$/ }).locator('xpath=following-sibling::dd[1]').textContent()).resolves.toBe('globex');
    await expect(facts.locator('dt', { hasText: /^status$/ }).locator('xpath=following-sibling::dd[1]').textContent()).resolves.toBe('QUEUED (pending)');
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
    const listed = (await app.inject({ method: 'GET', url: `/jobs?q=${encodeURIComponent('release notes')}`, headers: reader.headers })).json();
    expect(listed.jobs).toEqual([expect.objectContaining({ id, domain: 'frontend', description: 'write the release notes', status: 'QUEUED' })]);
    expect((await network.redis.lrange(network.keys.pending('frontend'), 0, -1)).find((raw) => raw.includes(id))).toContain('"priority":"high"');
    await page.close();
  });

  it("draws a workflow as a graph on its task page: a node per step with its state, an arrow from each step it needs", async () => {
    const yaml = ['name: page', 'steps:', '  plan: {description: plan it, domain: backend}', '  build: {description: build it, domain: backend, needs: plan}',
      '  docs: {description: write it up, domain: backend, needs: plan}', '  ship: {description: ship it, domain: backend, needs: [build, docs]}'].join('\n');
    const sent = await app.inject({ method: 'POST', url: '/workflows', headers: { ...submitter.headers, 'content-type': 'application/json' }, payload: { yaml } });
    expect(sent.statusCode, sent.body).toBe(202);
    const id = sent.json().id as string;
    const { page, errors } = await open(reader, `#/task/${id}`);
    await loaded(page);
    const steps = page.locator('ul.workflow li');
    await steps.first().waitFor();
    expect((await steps.allTextContents()).map((t) => t.trim())).toEqual(['plan pending', 'build waiting needs plan', 'docs waiting needs plan', 'ship waiting needs build, docs']);
    expect(await steps.nth(1).getAttribute('class')).toBe('wf-depth-1');
    const nodes = page.locator('svg.workflow-graph a.wf-node');
    expect(await nodes.evaluateAll((all) => all.map((n) => `${n.getAttribute('data-step')}:${n.getAttribute('data-status')}`)))
      .toEqual(['plan:pending', 'build:waiting', 'docs:waiting', 'ship:waiting']);
    expect(await page.locator('svg.workflow-graph path.wf-edge').evaluateAll((all) => all.map((e) => e.getAttribute('data-edge'))))
      .toEqual(['plan->build', 'plan->docs', 'build->ship', 'docs->ship']);
    // The fan-in step sits right of both steps it needs, and each node opens its step's task.
    const box = async (name: string) => (await page.locator(`a.wf-node[data-step="${name}"] rect`).boundingBox())!;
    expect((await box('ship')).x).toBeGreaterThan((await box('docs')).x);
    expect((await box('docs')).x).toBe((await box('build')).x);
    expect(await nodes.nth(3).getAttribute('href')).toBe(`#/task/${encodeURIComponent(`${id}.ship`)}`);
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(screenshotDir(), 'task-workflow.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('sends a revoked key back to the sign-in form', async () => {
    const doomed = await createTestKey(network.redis, network.keys, 'acme', 'submit');
    const { page } = await open(doomed, '#/tasks');
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    expect((await app.inject({ method: 'GET', url: '/whoami', headers: admin.headers })).statusCode).toBe(200);
    await new ApiKeys(network.redis, network.keys).revoke(doomed.id);
    await go(page, '#/');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/unknown or revoked/);
    await page.close();
  });

  it("creates a key on the keys page, shows its secret once, lists it, and revokes it after a confirmation", async () => {
    const { page, errors } = await open(admin, '#/keys');
    await page.getByRole('heading', { name: 'Keys' }).waitFor();
    await page.getByLabel('Role').selectOption('read');
    await page.getByLabel('Requests per minute').fill('7');
    await page.getByRole('button', { name: 'Create key…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Create it' }).click();
    const shown = page.locator('[data-new-key]');
    await shown.waitFor();
    const secret = await shown.getByLabel('New key').inputValue();
    const id = (await shown.getAttribute('data-new-key'))!;
    // The secret works as a key of acme with the role asked for, and the list shows it (never its secret).
    expect((await app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${secret}` } })).json()).toEqual({ client: 'acme', role: 'read', key_id: id });
    const row = page.locator('tbody tr', { has: page.locator(`button[data-revoke="${id}"]`) });
    await row.waitFor();
    expect((await row.locator('td').allTextContents()).slice(1, 3)).toEqual(['read', '7']);
    expect(await page.locator('tbody').textContent()).not.toContain(secret);
    // Once the page is drawn again, the secret is gone for good.
    await go(page, '#/');
    await go(page, '#/keys');
    await row.waitFor();
    expect(await page.locator('[data-new-key]').count()).toBe(0);

    await row.getByRole('button', { name: `Revoke key ${id}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke it' }).click();
    await page.getByRole('status').getByText(`Key ${id} revoked.`).waitFor();
    await expect.poll(() => page.locator(`button[data-revoke="${id}"]`).count()).toBe(0);
    expect((await app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${secret}` } })).statusCode).toBe(401);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('queues a dead letter again from the dead-letters page', async () => {
    const id = await send('work for a queue that was full', 'backend');
    const queue = new TaskQueue(network.redis, network.keys, queueOptions(network.config, 'backend', 'main-test'));
    // Every task still pending on backend goes (earlier tests leave some there, such as a workflow's first step): this one is retried.
    expect(await queue.deadLetterPending('the queue was full')).toBeGreaterThanOrEqual(1);
    type Listed = { total: number; entries: Array<{ task_id?: string }> };
    const listed = async (): Promise<Listed> => (await app.inject({ method: 'GET', url: '/dead-letters?domain=backend', headers: reader.headers })).json() as Listed;
    const before = await listed();
    expect(before.entries.map((e) => e.task_id)).toContain(id);
    const { page } = await open(submitter, '#/dead-letters');
    const row = page.locator('tr', { has: page.getByRole('link', { name: id, exact: true }) });
    await row.waitFor();
    await row.locator('button[data-retry]').click();
    await page.getByRole('dialog').getByRole('button', { name: 'Retry it' }).click();
    await page.getByRole('status').getByText('queued again').waitFor();
    expect(await getResult(network.redis, network.keys, id)).toMatchObject({ status: 'pending' });
    const after = await listed();
    expect(after.total).toBe(before.total - 1);
    expect(after.entries.map((e) => e.task_id)).not.toContain(id);
    await page.close();
  });

  it('cancels every task a filter matches after a confirmation, and says what it did', async () => {
    const ids = [await send('bulk sweep one'), await send('bulk sweep two')];
    const { page } = await open(submitter, `#/tasks?q=${encodeURIComponent('bulk sweep')}`);
    await page.getByText('2 shown, newest first').waitFor();
    await page.getByRole('button', { name: 'Cancel all matching…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Filter: q=bulk sweep', { exact: false }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel them' }).click();
    await page.getByRole('status').getByText('2 matched, 2 cancelled, 0 skipped').waitFor();
    for (const id of ids) expect((await inject(`/jobs/${id}`)).json(), id).toMatchObject({ status: 'FAILED', failure_code: 'cancelled' });
    await page.close();
  });

  it('shows a read-only key no action anywhere', async () => {
    const id = await send('a task a reader looks at');
    const { page } = await open(reader);
    expect(await page.locator('#nav').getByRole('link', { name: 'Submit' }).count()).toBe(0);
    const visible = async () => (await page.locator('main button').allTextContents()).filter((t) => !['Filter', 'Older tasks'].includes(t));
    expect(await page.locator('#nav').getByRole('link', { name: 'Keys' }).count()).toBe(0);
    for (const hash of ['#/', '#/tasks', `#/task/${id}`, `#/task/${verified}`, '#/dead-letters', '#/farms', '#/memory', '#/history', '#/submit', '#/keys']) {
      await go(page, hash);
      await page.locator('main h1').first().waitFor();
      await loaded(page);
      expect(await visible(), hash).toEqual([]);
    }
    await page.close();
  });

  it('shows markup in a description, a log line and a file name of a real diff as text, and runs none of it', async () => {
    await appendLog(network.redis, network.keys, { taskId: verified, agentId: 'backend-0000000a', domain: 'backend', message: `log ${XSS}` });
    const { page, dialogs, errors } = await open(submitter, `#/tasks?q=${encodeURIComponent('markup')}`);
    await page.getByText(`repairable: markup, add a sum function ${XSS}`).waitFor();
    await go(page, `#/task/${verified}`);
    await page.getByRole('list', { name: 'Log lines' }).getByText(`log ${XSS}`).waitFor();
    // The file the worker wrote, as git's diff of the task's branch names it.
    const files = page.getByRole('list', { name: 'Files changed' });
    await files.getByText(MARKUP_FILE, { exact: true }).waitFor();
    expect((await files.getByRole('listitem').allTextContents()).sort()).toEqual([MARKUP_FILE, 'sum.js'].sort());
    expect(await page.locator('main script, main img, main svg, main b').count()).toBe(0);
    // The memory's hot files hold the same name, from the outcome the worker recorded.
    await go(page, '#/memory');
    await page.getByRole('cell', { name: MARKUP_FILE, exact: true }).waitFor();
    expect(await page.locator('main script, main img, main svg, main b').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('never shows a secret the logger would redact, in a description or a dead letter', async () => {
    const secret = 'sk-ant-api03-abcdefghijklmnop0123456789';
    const id = await send(`deploy with ${secret} please`, 'devops');
    const queue = new TaskQueue(network.redis, network.keys, queueOptions(network.config, 'devops', 'main-test'));
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

  it('shows a task awaiting approval with its plan; an approve key approves it after a confirmation, a submit key gets no buttons', async () => {
    const sent = await app.inject({ method: 'POST', url: '/jobs', headers: submitter.headers, payload: { domain: 'frontend', description: 'ship the <b>banner</b>', requirements: ['no layout shift'], approval: true } });
    const id = sent.json().id as string;
    // What a frontend agent does when it claims it (the network is halted): park it for approval.
    const queue = new TaskQueue(network.redis, network.keys, queueOptions(network.config, 'frontend', 'frontend-dash0001'));
    const claimed = (await queue.claim(50)).find((t) => t.taskId === id);
    expect(claimed).toBeDefined();
    const plan = {
      domain: 'frontend', description: 'ship the <b>banner</b>', requirements: ['no layout shift'], priority: 'normal', timeout_seconds: 300, context_keys: [],
      route: [{ domain: 'backend', description: 'serve the banner text', after: [] }, { domain: 'frontend', description: 'draw the banner', after: ['backend'] }],
    };
    expect(await parkForApproval(network.redis, network.keys, claimed!, { plan, windowMs: 3_600_000, agentId: 'frontend-dash0001' })).toBeDefined();

    const viewer = await open(submitter, `#/task/${id}`);
    await viewer.page.getByRole('heading', { name: 'Awaiting approval' }).waitFor();
    await viewer.page.getByText('ship the <b>banner</b>').first().waitFor();
    // A routed task's sub-tasks, as planned: what approving starts.
    expect((await viewer.page.locator('ol.route li').allTextContents()).map((t) => t.trim())).toEqual(['backend: serve the banner text', 'frontend (after backend): draw the banner']);
    expect(await viewer.page.getByRole('button', { name: 'Approve…' }).count()).toBe(0);
    await viewer.page.close();

    const approver = await createTestKey(network.redis, network.keys, 'acme', 'approve');
    const { page } = await open(approver, `#/task/${id}`);
    await page.getByText('no layout shift').waitFor();
    await page.getByRole('button', { name: 'Reject…' }).click();
    await page.getByText('Say why it is rejected').waitFor();
    await page.getByRole('button', { name: 'Approve…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Approve it' }).click();
    await page.getByText('QUEUED (pending)').waitFor();
    expect(await getResult(network.redis, network.keys, id)).toMatchObject({ status: 'pending', raw: expect.objectContaining({ approval: 'approved' }) });
    await page.close();
  });

  it("shows a verified job as the network ran it: attempts and why each ended, timeline, checks, diff and the lessons its worker was given", async () => {
    const { spans } = (await inject(`/jobs/${verified}/timeline`)).json() as { spans: TimelineSpan[] };
    const [diff] = (await inject(`/jobs/${verified}/diff`)).json() as Array<{ branch: string; diff: string }>;
    const { page, dialogs, errors } = await open(reader, `#/task/${verified}`);
    await page.getByRole('heading', { name: `Task ${verified}` }).waitFor();
    await page.getByText('SUCCEEDED (completed)').waitFor();

    const timeline = page.getByRole('list', { name: /^Timeline, .+ in all$/ });
    await timeline.waitFor();
    await expect.poll(() => timeline.getByRole('listitem').count(), { timeout: 30_000 }).toBe(spans.length);
    expect(spans.map((s) => s.kind)).toEqual(expect.arrayContaining(['attempt', 'model_call', 'tool_call', 'check']));
    for (const check of spans.filter((s) => s.kind === 'check')) await timeline.getByText(`check: ${check.name}`).first().waitFor();

    const attempts = page.getByRole('table', { name: 'Attempts and why each ended' });
    await expect.poll(() => attempts.locator('tbody tr').count(), { timeout: 30_000 }).toBe(spans.filter((s) => s.kind === 'attempt').length);
    expect((await cells(attempts))[0]).toEqual([
      'this task', 'attempt 1', expect.stringMatching(/^backend-/), expect.any(String), expect.stringMatching(/\d (ms|s)$/), 'completed',
    ]);

    // Two rounds: the broken sum.js failed the check, the repaired one passed it.
    const checks = page.getByRole('table', { name: 'Checks' });
    expect((await cells(checks)).map((row) => row.slice(0, 4))).toEqual([['1', SUM_CHECK, 'failed', '1'], ['2', SUM_CHECK, 'passed', '0']]);
    await checks.getByText('// broken').waitFor();
    await page.getByText('No reviewer ran.').waitFor();

    await page.getByText(`${verified}: branch ${diff!.branch}`, { exact: false }).waitFor();
    await page.getByRole('group').filter({ hasText: 'Diff' }).getByText('Diff', { exact: true }).click();
    await page.getByText('+module.exports = (a, b) => a + b; // fixed').waitFor();
    await page.getByText(SUM_LESSON, { exact: false }).first().waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(screenshotDir(), 'task-verified.png'), fullPage: true });

    // The routed job: its sub-task in the tree, the timeline and the attempts; no checks of its own, no git branch.
    await go(page, `#/task/${routed}`);
    await page.getByRole('heading', { name: `Task ${routed}` }).waitFor();
    const routedAttempts = page.getByRole('table', { name: 'Attempts and why each ended' });
    await routedAttempts.getByRole('link', { name: `${routed}-backend` }).waitFor();
    await page.getByRole('list', { name: /^Timeline, / }).getByText('sub task: backend').waitFor();
    await page.getByText('Its result does not record checks', { exact: false }).waitFor();
    await page.getByText('not a git repository', { exact: false }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(screenshotDir(), 'task-routed.png'), fullPage: true });
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('draws the history charts from the tasks that really ended, 24 hours and 7 days', async () => {
    const { page, errors } = await open(reader, '#/history');
    for (const window of ['24h', '7d'] as const) {
      const history = (await inject(`/history?window=${window}`)).json() as { domains: Record<string, Array<{ completed: number; failed: number }>> };
      expect(Object.keys(history.domains)).toEqual(expect.arrayContaining(['backend', 'main']));
      await go(page, `#/history?window=${window}`);
      // The window shown is the one in bold (the other is a link).
      await page.locator('main p strong').getByText(window, { exact: true }).waitFor();
      await page.getByText('Tasks of client acme.').waitFor();
      for (const [domain, buckets] of Object.entries(history.domains)) {
        const section = page.getByRole('region', { name: `Domain ${domain}` });
        await section.getByRole('img', { name: `${domain} throughput` }).waitFor();
        expect(await section.locator(`svg[aria-label="${domain} throughput"] rect`).count(), `${window} ${domain}`).toBe(buckets.length);
        const finished = buckets.reduce((n, b) => n + b.completed + b.failed, 0);
        expect(finished, `${window} ${domain}`).toBeGreaterThan(0);
        expect(await section.locator('tbody td').first().textContent(), `${window} ${domain}`).toBe(String(finished));
      }
      expect(await seriousViolations(page)).toEqual([]);
      await page.screenshot({ path: join(screenshotDir(), `history-${window}.png`), fullPage: true });
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it("charts the farms' problems before and after over time, and shows a farm's agents: chunk, its files, locks held, restarts and tokens", async () => {
    const started = await app.inject({ method: 'POST', url: '/farms', headers: { ...submitter.headers, 'content-type': 'application/json' }, payload: { path: 'repo', problems_command: 'npm run lint', agent_count: 2 } });
    expect(started.statusCode, started.body).toBe(202);
    const id = (started.json() as { id: string }).id;
    // The farm's state as its agents write it (src/farm/farm-agent.ts): no farm agent runs in this test.
    const store = new FarmStore(network.redis, network.keys, id);
    await store.create({ status: 'running', path: 'repo', runtime: 'sdk' });
    await store.update({ problems_before: 7, chunks_total: 3, chunks_done: 1 });
    await store.setAgent('agent-1', { name: 'agent-1', status: 'working', chunk: 'c2', chunk_files: 'src/a.ts src/b.ts', restarts: 1, tokens_in: 1200, tokens_out: 300, chunks_done: 1 });
    await store.setAgent('agent-2', { name: 'agent-2', status: 'waiting', waiting_for: '1 chunk(s) with locked files', chunk: '', restarts: 0, tokens_in: 0, tokens_out: 0 });
    expect((await store.editLock('agent-1', 'src/a.ts', 60_000, 'before')).allowed).toBe(true);
    // A second farm, sent after the first, that started two hours ago and ended one hour ago with its problems counted before and after.
    const second = await app.inject({ method: 'POST', url: '/farms', headers: { ...submitter.headers, 'content-type': 'application/json' }, payload: { path: 'repo', problems_command: 'npm run lint' } });
    const endedId = (second.json() as { id: string }).id;
    const ended = new FarmStore(network.redis, network.keys, endedId);
    await ended.create({ status: 'completed', path: 'repo', runtime: 'sdk', problems_before: '12' }, Date.now() - 2 * 3_600_000);
    await ended.update({ problems_after: 3, ended_at: new Date(Date.now() - 3_600_000).toISOString() });

    const { page, errors } = await open(reader, '#/farms');
    // The chart: per farm a dot before and after (the running farm's after is not known yet), the farm sent last first.
    const drawn = page.getByRole('img', { name: 'Problems before and after per farm' });
    await drawn.waitFor();
    const marks = await drawn.locator('[data-series]').evaluateAll((found) => found.map((m) => [m.getAttribute('data-series'), m.getAttribute('data-value'), m.textContent]));
    expect(marks).toEqual([
      ['before', '12', expect.stringContaining('12 before')], ['after', '3', expect.stringContaining('3 after')],
      ['before', '7', expect.stringContaining('7 before')], ['after', 'unknown', expect.stringContaining('after not known')],
    ]);
    // Drawn where the values say: the ended farm left of the running one, 12 above 7 above 3, the unknown on the axis.
    const at = async (series: string, value: string) => {
      const mark = drawn.locator(`[data-series="${series}"][data-value="${value}"]`);
      return { x: Number(await mark.getAttribute('cx') ?? await mark.getAttribute('x')), y: Number(await mark.getAttribute('cy') ?? await mark.getAttribute('y')) };
    };
    const [running7, unknown, ended12, ended3] = [await at('before', '7'), await at('after', 'unknown'), await at('before', '12'), await at('after', '3')];
    expect(ended12.x).toBe(ended3.x);
    expect(running7.x).toBe(unknown.x);
    expect(ended12.x).toBeLessThan(running7.x);
    expect(ended12.y).toBeLessThan(running7.y);
    expect(running7.y).toBeLessThan(ended3.y);
    expect(ended3.y).toBeLessThan(unknown.y);
    expect(await page.getByRole('link', { name: endedId }).count()).toBe(1);
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(screenshotDir(), 'farms-chart.png'), fullPage: true });
    await page.getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: `Farm ${id}` }).waitFor();
    await page.getByText('7 before; the count after is taken when the farm ends').waitFor();
    await page.getByText('1 done of 3').waitFor();
    const agents = page.getByRole('table', { name: 'Agents' });
    expect((await cells(agents)).map((row) => row.slice(0, 9))).toEqual([
      ['agent-1', 'working', 'c2', 'src/a.ts src/b.ts', 'src/a.ts', '1', '1', '1200', '300'],
      ['agent-2', 'waiting (1 chunk(s) with locked files)', '–', '–', 'none', '0', '0', '0', '0'],
    ]);
    expect(await page.getByRole('button', { name: 'Stop farm…' }).count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(screenshotDir(), 'farm.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('passes an accessibility check on every page with real data, finds every view on this server, and leaves a screenshot of each', async () => {
    const id = await send('a task for the screenshots');
    await send('waiting where no agent serves', 'frontend');
    await appendLog(network.redis, network.keys, { taskId: id, agentId: 'main-0000000a', domain: 'main', message: 'routed to backend' });
    const { page, errors } = await open(admin);
    await page.getByText('Domain frontend has tasks waiting and no live agent', { exact: false }).waitFor();
    const dir = screenshotDir();
    const pages: Array<[string, string, string]> = [
      ['overview', '#/', 'Overview'], ['tasks', '#/tasks', 'Tasks'], ['task', `#/task/${verified}`, `Task ${verified}`], ['task-queued', `#/task/${id}`, `Task ${id}`],
      ['submit', '#/submit', 'Submit a task'], ['dead-letters', '#/dead-letters', 'Dead letters'], ['farms', '#/farms', 'Farms'], ['memory', '#/memory', 'Memory'],
      ['history', '#/history', 'History'], ['keys', '#/keys', 'Keys'],
    ];
    for (const [name, hash, heading] of pages) {
      await go(page, hash);
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      await loaded(page);
      if (hash.startsWith('#/task/')) await page.getByRole('list', { name: /^Timeline, / }).or(page.getByText('No spans recorded yet.')).waitFor();
      expect(await seriousViolations(page), name).toEqual([]);
      // Every endpoint a view reads exists here: none says it is not available.
      expect(await page.locator('[data-missing]').count(), name).toBe(0);
      await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
    }
    // The memory as the network left it: the lesson recorded before the jobs ran, the files they changed.
    await go(page, '#/memory');
    await page.getByRole('cell', { name: SUM_LESSON }).first().waitFor();
    await page.getByRole('cell', { name: 'sum.js', exact: true }).waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    await go(page, '#/');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(dir, 'overview-phone.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  // Last: it stops the ELF.
  it('says so on the Memory page when no ELF memory answers (503 elf_not_running)', async () => {
    await elf.stop();
    // A server that waits 1 s for the memory rather than 20: none will answer.
    const quick = await buildApiServer({ redis: network.redis, keys: network.keys, config: elfTimeout(network.config, 1_000), logger: silentLogger });
    try {
      await quick.listen({ host: '127.0.0.1', port: 0 });
      const reply = await quick.inject({ method: 'GET', url: '/elf/stats', headers: reader.headers });
      expect(reply.statusCode).toBe(503);
      expect(reply.json().error.code).toBe('elf_not_running');
      const { page, errors } = await open(reader, '#/memory', `http://127.0.0.1:${(quick.server.address() as AddressInfo).port}`);
      const said = page.locator('[data-elf="not-running"]');
      await said.waitFor();
      expect(await said.textContent()).toContain(reply.json().error.message.split(' (')[0]);
      expect(await page.getByRole('table').count()).toBe(0);
      expect(await seriousViolations(page)).toEqual([]);
      await page.screenshot({ path: join(screenshotDir(), 'memory-no-elf.png'), fullPage: true });
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      await quick.close();
    }
  });
});
