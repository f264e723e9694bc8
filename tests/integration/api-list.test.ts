import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../lib/clock.js';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { cancelTask } from '../../lib/redis/cancel-task.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import { getResult, submitTask } from '../../lib/redis/task-store.js';
import { listTasks, MAX_SCANNED } from '../../src/operations/list-tasks.js';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';

const json = { 'content-type': 'application/json' };
type Key = Awaited<ReturnType<TestApi['key']>>;

const at = (ms: number): Clock => ({ now: () => ms });
const T0 = Date.parse('2026-12-01T00:00:00.000Z');

function task(client: string, description: string, extra: Partial<SubmitInput> = {}): SubmitInput {
  return {
    domain: 'main', description, type: 'task_assignment', source: 'test', requirements: [], context: {}, priority: 'normal',
    extraMetadata: { client_id: client }, ...extra,
  };
}

/** GET /jobs, GET /dead-letters, the retries, GET /domains and GET /agents/{id}, against a real Redis. */
describe('the HTTP API: listings and retries', () => {
  let api: TestApi;
  let acme: Key;
  let globex: Key;
  let admin: Key;
  let reader: Key;

  beforeAll(async () => {
    api = await startTestApi();
    acme = await api.key('acme');
    globex = await api.key('globex');
    admin = await api.key('ops', 'admin');
    reader = await api.key('acme', 'read');
  });
  afterAll(async () => api.close());

  const get = (url: string, headers: Record<string, string>) => api.app.inject({ method: 'GET', url, headers });
  const post = (url: string, body: unknown, headers: Record<string, string>) =>
    api.app.inject({ method: 'POST', url, headers: { ...json, ...headers }, payload: JSON.stringify(body) });

  /** Every page of GET /jobs with `query`, following next_cursor. */
  async function allPages(query: string, headers: Record<string, string>): Promise<{ ids: string[]; sentAt: string[]; pages: number }> {
    const ids: string[] = [];
    const sentAt: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const reply = await get(`/jobs?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, headers);
      expect(reply.statusCode, reply.body).toBe(200);
      const body = reply.json() as { jobs: { id: string; sent_at: string }[]; next_cursor: string | null };
      ids.push(...body.jobs.map((j) => j.id));
      sentAt.push(...body.jobs.map((j) => j.sent_at));
      cursor = body.next_cursor;
      pages++;
    } while (cursor !== null);
    return { ids, sentAt, pages };
  }

  it("lists the caller's jobs newest first across pages, without duplicates or gaps, and never another client's", async () => {
    const mine: string[] = [];
    for (let i = 0; i < 23; i++) mine.push((await post('/jobs', { description: `acme job ${i}` }, acme.headers)).json().id);
    const theirs = (await post('/jobs', { description: 'globex job' }, globex.headers)).json().id as string;

    const listed = await allPages('limit=5', reader.headers);
    expect(listed.pages).toBeGreaterThanOrEqual(5);
    expect(new Set(listed.ids).size).toBe(listed.ids.length);
    expect([...listed.ids].sort()).toEqual([...mine].sort());
    expect(listed.ids).not.toContain(theirs);
    expect([...listed.sentAt].sort().reverse()).toEqual(listed.sentAt);
    // The last one sent is among the newest (jobs sent in one millisecond come in reverse id order).
    expect(listed.sentAt[listed.ids.indexOf(mine.at(-1) as string)]).toBe(listed.sentAt[0]);

    const first = (await get('/jobs?limit=1', globex.headers)).json();
    expect(first.jobs).toEqual([expect.objectContaining({ id: theirs, status: 'QUEUED', dan_status: 'pending', client: 'globex', description: 'globex job', domain: 'main' })]);
  });

  it('pages through many tasks sent in one millisecond (ties), each once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 230; i++) ids.push((await submitTask(api.redis, api.keys, task('ties', `tie ${i}`), at(T0))).taskId);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listTasks(api.redis, api.keys, 'ties', {}, { limit: 37, ...(cursor ? { cursor } : {}) });
      seen.push(...page.tasks.map((t) => t.id));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(seen.length).toBe(230);
    expect([...seen].sort()).toEqual([...ids].sort());
    // Ties come in reverse id order, the index's own.
    expect(seen).toEqual([...ids].sort().reverse());
  });

  it('filters by status (either name), domain, parent, since/until and text', async () => {
    const c = 'filters';
    const key = await api.key(c);
    const old = await submitTask(api.redis, api.keys, task(c, 'Migrate the billing DATABASE', { domain: 'backend' }), at(T0 - 3_600_000));
    const parent = await submitTask(api.redis, api.keys, task(c, 'ship the release'), at(T0));
    const child = await submitTask(api.redis, api.keys, task(c, 'write the changelog', { parentId: parent.taskId, domain: 'frontend' }), at(T0 + 1_000));
    const late = await submitTask(api.redis, api.keys, task(c, 'tidy the database indexes', { domain: 'backend' }), at(T0 + 3_600_000));
    await cancelTask(api.redis, api.keys, late.taskId, { by: 'test', retentionMs: api.config.retentionMs });

    const ids = async (query: string) => ((await get(`/jobs?${query}`, key.headers)).json().jobs as { id: string }[]).map((j) => j.id);
    expect(await ids('')).toEqual([late.taskId, child.taskId, parent.taskId, old.taskId]);
    expect(await ids('status=FAILED')).toEqual([late.taskId]);
    expect(await ids('status=failed')).toEqual([late.taskId]);
    expect(await ids('status=QUEUED')).toEqual([child.taskId, parent.taskId, old.taskId]);
    expect(await ids('status=SUCCEEDED,FAILED')).toEqual([late.taskId]);
    expect(await ids('domain=backend')).toEqual([late.taskId, old.taskId]);
    expect(await ids(`parent=${parent.taskId}`)).toEqual([child.taskId]);
    expect(await ids(`since=${new Date(T0).toISOString()}`)).toEqual([late.taskId, child.taskId, parent.taskId]);
    expect(await ids(`until=${new Date(T0).toISOString()}`)).toEqual([parent.taskId, old.taskId]);
    expect(await ids(`since=${new Date(T0).toISOString()}&until=${new Date(T0 + 1_000).toISOString()}`)).toEqual([child.taskId, parent.taskId]);
    expect(await ids('q=database')).toEqual([late.taskId, old.taskId]);
    expect(await ids('q=database&status=QUEUED')).toEqual([old.taskId]);
    const failed = (await get('/jobs?status=FAILED', key.headers)).json().jobs[0];
    expect(failed).toMatchObject({ status: 'FAILED', dan_status: 'failed', failure_code: 'cancelled', error: 'cancelled' });

    for (const bad of ['status=DONE', 'since=yesterday', 'limit=0', 'limit=500', 'cursor=bm9wZQ', 'color=red']) {
      const reply = await get(`/jobs?${bad}`, key.headers);
      expect(reply.statusCode, bad).toBe(400);
      expect(reply.json().error.code, bad).toBe('invalid_input');
    }
  });

  it('leaves out tasks whose results expired, and ones another client wrote into the index', async () => {
    const c = 'expiry';
    const key = await api.key(c);
    const kept = await submitTask(api.redis, api.keys, task(c, 'kept'));
    const gone = await submitTask(api.redis, api.keys, task(c, 'gone'));
    await api.redis.del(api.keys.result(gone.taskId));
    const foreign = await submitTask(api.redis, api.keys, task('other', 'not yours'));
    await api.redis.zadd(api.keys.jobs(c), Date.now(), foreign.taskId);
    expect(((await get('/jobs', key.headers)).json().jobs as { id: string }[]).map((j) => j.id)).toEqual([kept.taskId]);
  });

  it('drops index entries older than twice the retention as tasks are sent', async () => {
    const retention = api.config.retentionMs;
    const ancient = await submitTask(api.redis, api.keys, task('trim', 'ancient'), at(T0 - 2 * retention - 1), { retentionMs: retention });
    const recent = await submitTask(api.redis, api.keys, task('trim', 'recent'), at(T0), { retentionMs: retention });
    expect(await api.redis.zrange(api.keys.jobs('trim'), 0, -1)).toEqual([recent.taskId]);
    expect(ancient.taskId).not.toBe(recent.taskId);
  });

  it('stops a page after looking at MAX_SCANNED entries and says where to go on', async () => {
    const c = 'sparse';
    const pipeline = api.redis.pipeline();
    // Index entries without results (expired): nothing to list, but each is looked at.
    for (let i = 0; i < MAX_SCANNED + 50; i++) pipeline.zadd(api.keys.jobs(c), T0 + i, `expired-${i}`);
    await pipeline.exec();
    const match = await submitTask(api.redis, api.keys, task(c, 'the only one'), at(T0 - 1));
    const first = await listTasks(api.redis, api.keys, c, {}, { limit: 10 });
    expect(first.tasks).toEqual([]);
    expect(first.nextCursor).toBeDefined();
    const second = await listTasks(api.redis, api.keys, c, {}, { limit: 10, cursor: first.nextCursor as string });
    expect(second.tasks.map((t) => t.id)).toEqual([match.taskId]);
    expect(second.nextCursor).toBeUndefined();
  });

  it('indexes a task a client pushed raw when it is first claimed, under the default client', async () => {
    const raw = JSON.stringify({ task_id: 'raw-push-1', type: 'task_assignment', payload: { description: 'pushed by hand' }, metadata: {} });
    await api.redis.lpush(api.keys.pending('devops'), raw);
    await api.redis.hset(api.keys.result('raw-push-1'), 'task_id', 'raw-push-1', 'status', 'pending');
    const queue = new TaskQueue(api.redis, api.keys, queueOptions(api.config, 'devops', 'devops-test'));
    expect((await queue.claim(1)).map((t) => t.taskId)).toEqual(['raw-push-1']);
    const page = await listTasks(api.redis, api.keys, 'default', { text: 'by hand' }, { limit: 5 });
    expect(page.tasks).toEqual([expect.objectContaining({ id: 'raw-push-1', status: 'in_progress', description: 'pushed by hand', client: 'default' })]);
    const byApi = (await get('/jobs?q=by%20hand', (await api.key('default')).headers)).json();
    expect(byApi.jobs.map((j: { id: string }) => j.id)).toEqual(['raw-push-1']);
  });

  it("retries a dead-lettered job, refuses one that has not failed (409 not_failed) or whose input is gone (409 not_retryable), and hides another client's (404)", async () => {
    const { taskId } = await submitTask(api.redis, api.keys, task('acme', 'for a domain nobody serves', { domain: 'ghost' }));
    const queue = new TaskQueue(api.redis, api.keys, queueOptions(api.config, 'ghost', 'main-test'));
    expect(await queue.deadLetterPending('nobody serves ghost')).toBe(1);
    expect((await get(`/jobs/${taskId}`, acme.headers)).json()).toMatchObject({ status: 'FAILED', failure_code: 'unknown_domain' });

    const hidden = await post(`/jobs/${taskId}/retry`, {}, globex.headers);
    expect(hidden.statusCode).toBe(404);
    const unknown = await post(`/jobs/${taskId}/retry`, {}, acme.headers);
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json().error.code).toBe('unknown_domain');
    expect((await post(`/jobs/${taskId}/retry`, {}, reader.headers)).statusCode).toBe(403);

    const retried = await post(`/jobs/${taskId}/retry`, { to: 'main' }, acme.headers);
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toMatchObject({ id: taskId, status: 'QUEUED', domain: 'main' });
    expect((await get(`/jobs/${taskId}`, acme.headers)).json()).toMatchObject({ status: 'QUEUED', dan_status: 'pending' });
    expect((await api.redis.lrange(api.keys.pending('main'), 0, -1)).some((raw) => raw.includes(taskId))).toBe(true);

    const again = await post(`/jobs/${taskId}/retry`, {}, acme.headers);
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toMatchObject({ code: 'not_failed', message: expect.stringContaining('not FAILED') });

    const cancelled = (await post('/jobs', { description: 'cancel me' }, acme.headers)).json().id as string;
    await post(`/jobs/${cancelled}/cancel`, {}, acme.headers);
    const gone = await post(`/jobs/${cancelled}/retry`, {}, acme.headers);
    expect(gone.statusCode).toBe(409);
    expect(gone.json().error).toMatchObject({ code: 'not_retryable', message: expect.stringContaining('POST /jobs') });
  });

  it("shows a client the dead letters of its own tasks only, an admin all; retries by ref; purges for admins only", async () => {
    const mine = await submitTask(api.redis, api.keys, task('acme', 'dead one', { domain: 'limbo' }));
    const theirs = await submitTask(api.redis, api.keys, task('globex', 'their dead one', { domain: 'limbo' }));
    const queue = new TaskQueue(api.redis, api.keys, queueOptions(api.config, 'limbo', 'main-test'));
    expect(await queue.deadLetterPending('nobody serves limbo')).toBe(2);
    await api.redis.lpush(api.keys.pending('limbo'), 'not json at all');
    expect(await queue.deadLetterPending('nobody serves limbo')).toBe(1);

    const list = (key: Key, query = '') => get(`/dead-letters?domain=limbo${query}`, key.headers).then((r) => r.json());
    const acmeList = await list(reader);
    expect(acmeList.total).toBe(1);
    expect(acmeList.entries).toEqual([expect.objectContaining({ task_id: mine.taskId, domain: 'limbo', reason: 'nobody serves limbo', raw: expect.stringContaining('dead one') })]);
    expect((await list(globex)).entries.map((e: { task_id: string }) => e.task_id)).toEqual([theirs.taskId]);
    const all = await list(admin);
    expect(all.total).toBe(3);
    expect(all.entries.some((e: { raw: string }) => e.raw === 'not json at all')).toBe(true);
    expect((await list(admin, '&limit=1')).entries).toHaveLength(1);

    const ref = acmeList.entries[0].ref as string;
    expect((await get(`/dead-letters/${ref}`, acme.headers)).json()).toMatchObject({ ref, task_id: mine.taskId });
    expect((await get(`/dead-letters/${mine.taskId}`, acme.headers)).json()).toMatchObject({ ref });
    expect((await get(`/dead-letters/${ref}`, globex.headers)).statusCode).toBe(404);
    expect((await post(`/dead-letters/${ref}/retry`, {}, globex.headers)).statusCode).toBe(404);
    const junk = all.entries.find((e: { raw: string }) => e.raw === 'not json at all').ref as string;
    expect((await get(`/dead-letters/${junk}`, acme.headers)).statusCode).toBe(404);
    const notTask = await post(`/dead-letters/${junk}/retry`, { to: 'main' }, admin.headers);
    expect(notTask.statusCode).toBe(409);
    expect(notTask.json().error.code).toBe('not_retryable');

    const retried = await post(`/dead-letters/${ref}/retry`, { to: 'main' }, acme.headers);
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toEqual({ ref, from: 'limbo', to: 'main', task_id: mine.taskId });
    expect((await list(acme)).total).toBe(0);
    expect((await get(`/dead-letters/${ref}`, acme.headers)).statusCode).toBe(404);

    const forbidden = await post('/dead-letters/purge', { all: true }, acme.headers);
    expect(forbidden.statusCode).toBe(403);
    expect((await post('/dead-letters/purge', { refs: ['no-such-entry'] }, admin.headers)).statusCode).toBe(404);
    expect((await post('/dead-letters/purge', {}, admin.headers)).statusCode).toBe(400);
    const purged = await post('/dead-letters/purge', { refs: [junk] }, admin.headers);
    expect(purged.json()).toEqual({ deleted: 1, refs: [junk] });
    const rest = await post('/dead-letters/purge', { all: true, domain: 'limbo' }, admin.headers);
    expect(rest.json()).toMatchObject({ deleted: 1 });
    expect((await list(admin)).total).toBe(0);
  });

  it('documents the new routes in /openapi.json', async () => {
    const doc = (await get('/openapi.json', reader.headers)).json() as { paths: Record<string, Record<string, { parameters?: { name: string }[] }>> };
    for (const [path, method] of [['/jobs', 'get'], ['/jobs/{id}/retry', 'post'], ['/dead-letters', 'get'], ['/dead-letters/{ref}', 'get'],
      ['/dead-letters/{ref}/retry', 'post'], ['/dead-letters/purge', 'post'], ['/domains', 'get'], ['/agents/{id}', 'get']] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
    expect(doc.paths['/jobs']?.['get']?.parameters?.map((p) => p.name)).toEqual(expect.arrayContaining(['status', 'domain', 'parent', 'since', 'until', 'q', 'limit', 'cursor']));
  });

  it('answers GET /domains with waiting, running and dead-lettered counts, and GET /agents/{id} (404 for unknown)', async () => {
    const domains = (await get('/domains', reader.headers)).json().domains as { domain: string; pending: number; running: number; dead: number }[];
    const main = domains.find((d) => d.domain === 'main');
    expect(main).toBeDefined();
    expect(main?.pending).toBe(await api.redis.llen(api.keys.pending('main')));
    expect(domains.find((d) => d.domain === 'backend')?.pending).toBe(await api.redis.llen(api.keys.pending('backend')));
    // The raw push claimed above holds a lease on devops.
    expect(domains.find((d) => d.domain === 'devops')?.running).toBe(1);

    // Where the waiting tasks are: sent and not yet sorted, ready per priority, delayed for a retry; they add up to pending.
    const frontend = async () => ((await get('/domains', reader.headers)).json().domains as Array<{ domain: string; pending: number; waiting: Record<string, number> }>)
      .find((d) => d.domain === 'frontend');
    const before = await frontend();
    await api.redis.rpush(api.keys.ready('frontend', 'high'), '{"task_id":"ready-high"}');
    await api.redis.zadd(api.keys.delayed('frontend'), Date.now() + 60_000, '{"task_id":"delayed-one"}');
    await post('/jobs', { domain: 'frontend', description: 'incoming' }, acme.headers);
    const after = await frontend();
    const added = Object.fromEntries(Object.entries(after?.waiting ?? {}).map(([where, n]) => [where, n - (before?.waiting[where] ?? 0)]));
    expect(added).toEqual({ incoming: 1, high: 1, normal: 0, low: 0, delayed: 1 });
    expect(after?.pending).toBe(Object.values(after?.waiting ?? {}).reduce((sum, n) => sum + n, 0));

    const registry = new HeartbeatRegistry(api.redis, api.keys, api.config.heartbeatTtlMs);
    const theirTask = (await post('/jobs', { description: 'globex work' }, globex.headers)).json().id as string;
    await registry.register({ agentId: 'backend-7', role: 'domain', domain: 'backend', status: 'busy', extra: { task_id: theirTask } });
    const seenByGlobex = (await get('/agents/backend-7', globex.headers)).json();
    expect(seenByGlobex).toMatchObject({ agent_id: 'backend-7', role: 'domain', domain_type: 'backend', alive: true, task_id: theirTask });
    const seenByAcme = (await get('/agents/backend-7', reader.headers)).json();
    expect(seenByAcme).toMatchObject({ agent_id: 'backend-7' });
    expect(seenByAcme.task_id).toBeUndefined();
    const missing = await get('/agents/backend-99', reader.headers);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not_found');
  });

  describe("an admin key and other clients' jobs (the one tenancy rule)", () => {
    let initech: Key;
    beforeAll(async () => { initech = await api.key('initech'); });
    const send = async (description: string, key: Key) => {
      const reply = await post('/jobs', { description }, key.headers);
      expect(reply.statusCode, reply.body).toBe(202);
      return reply.json().id as string;
    };
    const ids = (body: { jobs: { id: string }[] }) => body.jobs.map((j) => j.id);

    it("lists another client's jobs with ?client=, reads one and cancels it", async () => {
      const theirs = await send('initech: tidy the warehouse', initech);
      const mine = await send('ops: own work', admin);

      const listed = await get('/jobs?client=initech', admin.headers);
      expect(listed.statusCode, listed.body).toBe(200);
      expect(listed.json().jobs).toEqual([expect.objectContaining({ id: theirs, client: 'initech', description: 'initech: tidy the warehouse' })]);
      // Without client, the admin key's own client, as before; a client id is matched in any case, as keys name it.
      expect(ids((await get('/jobs', admin.headers)).json())).toEqual([mine]);
      expect(ids((await get('/jobs?client=INITECH', admin.headers)).json())).toEqual([theirs]);

      expect((await get(`/jobs/${theirs}`, admin.headers)).json()).toMatchObject({ id: theirs, client: 'initech', status: 'QUEUED' });
      expect((await get(`/jobs/${theirs}/timeline`, admin.headers)).statusCode).toBe(200);
      const logs = await get(`/jobs/${theirs}/logs?follow=false`, admin.headers);
      expect(logs.statusCode, logs.body).toBe(200);
      expect(logs.body).toContain('event: end');

      const cancelled = await post(`/jobs/${theirs}/cancel`, { reason: 'operator stop' }, admin.headers);
      expect(cancelled.statusCode, cancelled.body).toBe(200);
      expect(cancelled.json()).toMatchObject({ id: theirs, outcome: 'cancelled' });
      expect(await getResult(api.redis, api.keys, theirs)).toMatchObject({ status: 'failed', clientId: 'initech' });
      expect((await get(`/jobs/${theirs}`, initech.headers)).json()).toMatchObject({ status: 'FAILED', failure_code: 'cancelled' });
    });

    it("cancels another client's jobs in bulk by the filter's client, its own client's by default", async () => {
      const theirs = [await send('initech bulk one', initech), await send('initech bulk two', initech)];
      const mine = await send('ops bulk one', admin);
      const done = await post('/jobs/bulk/cancel', { client: 'initech', q: 'bulk' }, admin.headers);
      expect(done.statusCode, done.body).toBe(200);
      expect([...done.json().done].sort()).toEqual([...theirs].sort());
      expect(await getResult(api.redis, api.keys, mine)).toMatchObject({ status: 'pending' });
      expect((await post('/jobs/bulk/cancel', { q: 'bulk' }, admin.headers)).json()).toMatchObject({ matched: 1, done: [mine] });
    });

    it("answers read and submit keys 403 for ?client= and 404 for another client's job, as before", async () => {
      const theirs = await send('initech: private work', initech);
      for (const key of [acme, reader]) {
        for (const client of ['initech', 'acme']) {
          const reply = await get(`/jobs?client=${client}`, key.headers);
          expect(reply.statusCode, reply.body).toBe(403);
          expect(reply.json().error).toMatchObject({ code: 'forbidden', message: expect.stringContaining('admin') });
        }
        for (const url of [`/jobs/${theirs}`, `/jobs/${theirs}/timeline`, `/jobs/${theirs}/logs?follow=false`, `/jobs/${theirs}/diff`]) {
          expect((await get(url, key.headers)).statusCode, url).toBe(404);
        }
      }
      expect((await post(`/jobs/${theirs}/cancel`, {}, acme.headers)).statusCode).toBe(404);
      expect((await post('/jobs/bulk/cancel', { client: 'initech' }, acme.headers)).statusCode).toBe(403);
      expect(await getResult(api.redis, api.keys, theirs)).toMatchObject({ status: 'pending' });
      // A malformed client is bad input for anyone.
      expect((await get('/jobs?client=no%20such', admin.headers)).statusCode).toBe(400);
    });
  });
});
