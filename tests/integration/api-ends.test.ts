import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, packageRoot } from '../../lib/config.js';
import { FarmStore } from '../../lib/farm/farm-store.js';
import { silentLogger } from '../../lib/logger.js';
import { ApiKeys } from '../../lib/redis/api-keys.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import type { RunningElf } from '../../src/elf/elf-service.js';
import { startElfService } from '../../src/elf/elf-service.js';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';
import { testRedisUrl } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';

const json = { 'content-type': 'application/json' };
const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
type Key = Awaited<ReturnType<TestApi['key']>>;
/** Whatever sends a key: one the test API made, or one made here with its own limits. */
type WithKey = Pick<Key, 'headers'>;

/** The ELF, farm and key endpoints and the retry of a job that failed on an agent, against a real Redis and a real ELF. */
describe('the HTTP API: memory, farms, keys and retries', () => {
  let api: TestApi;
  let elf: RunningElf;
  let dir: string;
  let acme: Key;
  let globex: Key;
  let reader: Key;
  let acmeAdmin: Key;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dan-api-ends-'));
    // 20 s: an ELF on a busy machine still answers; the 503 when none runs has its own test below.
    api = await startTestApi({ env: { DAN_WORKSPACE: path.join(dir, 'workspace'), DAN_ELF_TIMEOUT_MS: '20000' } });
    const elfConfig = loadConfig({}, { REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: api.prefix, DAN_ELF_DIR: path.join(dir, 'elf'), DAN_LOG_LEVEL: 'silent' });
    elf = await startElfService({ config: elfConfig, agentId: 'elf-apiends00', logger: silentLogger });
    acme = await api.key('acme');
    globex = await api.key('globex');
    reader = await api.key('acme', 'read');
    acmeAdmin = await api.key('acme', 'admin');
  });
  afterAll(async () => {
    await api.close();
    await elf.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (url: string, key: WithKey) => api.app.inject({ method: 'GET', url, headers: key.headers });
  const post = (url: string, body: unknown, key: WithKey) => api.app.inject({ method: 'POST', url, headers: { ...json, ...key.headers }, payload: JSON.stringify(body) });
  const dan = async (args: string[]) => {
    const run = await runProcess(process.execPath, [bin, ...args, '--json'], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: api.prefix, DAN_WORKSPACE: path.join(dir, 'workspace') },
      timeoutMs: 60_000,
    });
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as unknown;
  };

  describe('ELF memory', () => {
    beforeAll(() => {
      const mine = elf.stores.get('acme');
      mine.recordHeuristic({ domain: 'backend', rule: 'Validate every request body against its schema', source: 'person' });
      mine.recordHeuristic({ domain: 'frontend', rule: 'Keep each component in its own file', source: 'person' });
      mine.recordOutcome({ taskId: 'acme-task-1', domain: 'backend', status: 'completed', description: 'Add request validation', filesModified: ['src/api/users.ts'], repository: 'shop' });
      elf.stores.get('globex').recordHeuristic({ domain: 'backend', rule: 'Globex secret rule about request bodies', source: 'person' });
    });

    it("answers the caller's client's memory only, the same JSON as dan elf --client <its client> --json", async () => {
      const stats = await get('/elf/stats', reader);
      expect(stats.statusCode, stats.body).toBe(200);
      expect(stats.json()).toMatchObject({ client_id: 'acme', heuristics: 2, outcomes: { total: 1 } });
      expect((await get('/elf/stats', globex)).json()).toMatchObject({ client_id: 'globex', heuristics: 1, outcomes: { total: 0 } });

      const heuristics = await get('/elf/heuristics', reader);
      expect(heuristics.statusCode, heuristics.body).toBe(200);
      expect(heuristics.json().map((h: { rule: string }) => h.rule).sort()).toEqual(['Keep each component in its own file', 'Validate every request body against its schema']);
      expect(heuristics.json()).toEqual(await dan(['elf', 'heuristics', '--client', 'acme']));
      expect((await get('/elf/heuristics?domain=&all=', reader)).json()).toEqual(heuristics.json());
      expect((await get('/elf/heuristics?domain=frontend&all=true', reader)).json()).toEqual(await dan(['elf', 'heuristics', '--client', 'acme', '--domain', 'frontend', '--all']));

      const search = await get('/elf/search?q=request%20body', reader);
      expect(search.statusCode, search.body).toBe(200);
      expect(JSON.stringify(search.json())).not.toContain('Globex');
      expect(search.json().heuristics.map((h: { heuristic: { rule: string } }) => h.heuristic.rule)).toEqual(['Validate every request body against its schema']);
      expect(search.json()).toEqual(await dan(['elf', 'search', 'request', 'body', '--client', 'acme']));

      expect((await get('/elf/golden-rules', reader)).json()).toEqual([]);
      const hotspots = await get('/elf/hotspots?repository=shop', reader);
      expect(hotspots.json()).toEqual([expect.objectContaining({ file: 'src/api/users.ts', deposits: 1 })]);
      // Strength decays by the millisecond, so it differs between two readings: the rest is compared.
      const steady = (list: unknown) => (list as Array<Record<string, unknown>>).map(({ strength: _strength, ...rest }) => rest);
      expect(steady(hotspots.json())).toEqual(steady(await dan(['elf', 'hotspots', '--client', 'acme', '--repository', 'shop'])));
      expect((await get('/elf/hotspots', globex)).json()).toEqual([]);
    });

    it('refuses a bad query (400) and a missing key (401); a client in the query changes nothing', async () => {
      for (const url of ['/elf/search', '/elf/search?q=', '/elf/heuristics?all=maybe', '/elf/heuristics?limit=0', '/elf/golden-rules?domain=Bad%20Domain', '/elf/stats?client=globex', '/elf/heuristics?client_id=globex']) {
        const reply = await get(url, reader);
        expect(reply.statusCode, `${url}: ${reply.body}`).toBe(400);
        expect(reply.json().error.code).toBe('invalid_input');
      }
      expect((await api.app.inject({ method: 'GET', url: '/elf/stats' })).statusCode).toBe(401);
    });
  });

  describe('farms', () => {
    it("starts a farm in the client's workspace as a job of the farm domain; another client sees nothing of it", async () => {
      const started = await post('/farms', { path: 'shop', problems_command: 'npm run lint', agent_count: 2 }, acme);
      expect(started.statusCode, started.body).toBe(202);
      const { id, location } = started.json() as { id: string; location: string };
      expect(location).toBe(`/farms/${id}`);
      expect(started.headers['location']).toBe(location);
      expect((await get(`/jobs/${id}`, acme)).json()).toMatchObject({ status: 'QUEUED', domain: 'farm', client: 'acme' });
      expect((await get('/jobs?domain=farm', acme)).json().jobs.map((j: { id: string }) => j.id)).toContain(id);
      const queued = (await api.redis.lrange(api.keys.pending('farm'), 0, -1)).map((raw) => JSON.parse(raw) as { task_id: string; payload: { context: Record<string, unknown> }; metadata: Record<string, unknown> });
      expect(queued.find((t) => t.task_id === id)).toMatchObject({ payload: { context: { path: 'shop', agent_count: 2, problems_command: 'npm run lint' } }, metadata: { client_id: 'acme' } });

      // Not started yet: no farm state, as dan farm status says.
      expect((await get(`/farms/${id}`, acme)).statusCode).toBe(404);
      const store = new FarmStore(api.redis, api.keys, id);
      await store.create({ status: 'running', path: path.join(dir, 'workspace/clients/acme/shop'), runtime: 'sdk', problems_before: '4' });
      await store.setAgent('agent-1', { status: 'working', chunk: 'c1', restarts: 0 });
      const status = await get(`/farms/${id}`, reader);
      expect(status.statusCode, status.body).toBe(200);
      expect(status.json()).toMatchObject({ farm: { farm_id: id, status: 'running', problems_before: '4' }, agents: [{ name: 'agent-1', status: 'working', chunk: 'c1', locked: [] }] });
      expect(status.json()).toEqual(await dan(['farm', 'status', id]));

      for (const [method, url] of [['GET', `/farms/${id}`], ['POST', `/farms/${id}/stop`]] as const) {
        const theirs = await api.app.inject({ method, url, headers: { ...json, ...globex.headers }, payload: '{}' });
        expect(theirs.statusCode, `${method} ${url}`).toBe(404);
      }
      expect(await store.stopRequested()).toBe(false);
      expect((await post(`/farms/${id}/stop`, {}, reader)).statusCode).toBe(403);
      const stop = await post(`/farms/${id}/stop`, {}, acme);
      expect(stop.statusCode, stop.body).toBe(202);
      expect(stop.json()).toEqual({ id, stopping: true });
      expect(await store.stopRequested()).toBe(true);
      await store.update({ status: 'completed' });
      expect((await post(`/farms/${id}/stop`, {}, acme)).json().error.code).toBe('already_ended');
    });

    it('refuses a path outside the client workspace, bad bodies (400) and a read key (403), queueing nothing', async () => {
      const before = await api.redis.llen(api.keys.pending('farm'));
      for (const body of [
        { path: '../globex/shop', problems_command: 'npm run lint' }, { path: '/etc', problems_command: 'x' }, { path: 'shop' },
        { path: 'shop', description: 'x', agent_count: 0 }, { path: 'shop', description: 'x', agent_count: 1000 }, { path: 'shop', description: 'x', runtime: 'vm' },
        { path: '', description: 'x' }, { path: 'shop', description: 'x', client_id: 'globex' }, { description: 'no path' },
      ]) {
        const reply = await post('/farms', body, acme);
        expect(reply.statusCode, `${JSON.stringify(body)}: ${reply.body}`).toBe(400);
      }
      expect((await post('/farms', { path: '../globex/shop', problems_command: 'x' }, acme)).json().error.message).toContain("outside the workspace of client 'acme'");
      expect((await post('/farms', { path: 'shop', description: 'x' }, reader)).statusCode).toBe(403);
      expect(await api.redis.llen(api.keys.pending('farm'))).toBe(before);
    });
    it("lists the client's started farms with their problems before and after; another client's and queued ones stay out", async () => {
      const start = async (key: Key) => ((await post('/farms', { path: 'shop', problems_command: 'npm run lint' }, key)).json() as { id: string }).id;
      const [ended, running, queued, theirs] = [await start(acme), await start(acme), await start(acme), await start(globex)];
      const hourAgo = Date.now() - 3_600_000;
      await new FarmStore(api.redis, api.keys, ended).create({ status: 'completed', problems_before: '12' }, hourAgo);
      await new FarmStore(api.redis, api.keys, ended).update({ problems_after: 3, ended_at: new Date(hourAgo + 60_000).toISOString() });
      // As the farm writes it when it could not count the problems at its end.
      await new FarmStore(api.redis, api.keys, running).create({ status: 'running', problems_before: '7', problems_after: 'unknown' });
      await new FarmStore(api.redis, api.keys, theirs).create({ status: 'running', problems_before: '99' });

      const reply = await get('/farms?limit=3', reader);
      expect(reply.statusCode, reply.body).toBe(200);
      const farms = (reply.json() as { farms: Array<{ id: string; started_at: string }> }).farms;
      expect(farms.map((f) => f.id)).toEqual([running, ended]);
      expect(farms).toEqual([
        { id: running, status: 'running', started_at: expect.any(String), ended_at: null, problems_before: 7, problems_after: null },
        { id: ended, status: 'completed', started_at: new Date(hourAgo).toISOString(), ended_at: new Date(hourAgo + 60_000).toISOString(), problems_before: 12, problems_after: 3 },
      ]);
      expect(farms.map((f) => f.id)).not.toContain(queued);
      expect((await get('/farms', globex)).json().farms.map((f: { id: string }) => f.id)).toEqual([theirs]);

      for (const url of ['/farms?limit=0', '/farms?limit=201', '/farms?limit=two', '/farms?client=globex']) {
        const bad = await get(url, reader);
        expect(bad.statusCode, `${url}: ${bad.body}`).toBe(400);
        expect(bad.json().error.code).toBe('invalid_input');
      }
      expect((await api.app.inject({ method: 'GET', url: '/farms' })).statusCode).toBe(401);
    });
  });

  describe('keys', () => {
    it("lets an admin key make, list and revoke its own client's keys only, as dan keys does", async () => {
      const made = await post('/keys', { role: 'read', rpm: 30 }, acmeAdmin);
      expect(made.statusCode, made.body).toBe(201);
      const created = made.json() as { id: string; key: string };
      expect(made.json()).toMatchObject({ client: 'acme', role: 'read', rpm: 30, max_in_flight: null, key: expect.stringMatching(/^dan-api-/) });
      const byKey = { headers: { authorization: `Bearer ${created.key}` } };
      expect((await get('/jobs', byKey)).statusCode).toBe(200);

      const listed = (await get('/keys', acmeAdmin)).json() as Array<{ id: string; client: string }>;
      expect(listed.map((k) => k.client)).toEqual(listed.map(() => 'acme'));
      expect(listed.map((k) => k.id)).toEqual(expect.arrayContaining([created.id, acme.id, reader.id, acmeAdmin.id]));
      const all = await dan(['keys', 'list']) as Array<{ client: string }>;
      expect(listed).toEqual(all.filter((k) => k.client === 'acme'));

      const theirs = await api.app.inject({ method: 'DELETE', url: `/keys/${globex.id}`, headers: acmeAdmin.headers });
      expect(theirs.statusCode).toBe(404);
      expect((await get('/jobs', globex)).statusCode).toBe(200);
      const revoked = await api.app.inject({ method: 'DELETE', url: `/keys/${created.id}`, headers: acmeAdmin.headers });
      expect(revoked.statusCode, revoked.body).toBe(204);
      expect((await get('/jobs', byKey)).statusCode).toBe(401);
    });

    it('needs role admin (403) and a valid body or id (400)', async () => {
      const count = await api.keyCount();
      expect((await post('/keys', { role: 'read' }, acme)).statusCode).toBe(403);
      expect((await get('/keys', reader)).statusCode).toBe(403);
      expect((await api.app.inject({ method: 'DELETE', url: `/keys/${reader.id}`, headers: acme.headers })).statusCode).toBe(403);
      for (const body of [{}, { role: 'owner' }, { role: 'read', rpm: -1 }, { role: 'read', max_in_flight: 1.5 }, { role: 'read', client: 'globex' }]) {
        expect((await post('/keys', body, acmeAdmin)).statusCode, JSON.stringify(body)).toBe(400);
      }
      expect((await api.app.inject({ method: 'DELETE', url: '/keys/not-hex', headers: acmeAdmin.headers })).statusCode).toBe(400);
      expect(await api.keyCount()).toBe(count);
    });
  });

  describe('retrying a job that failed on an agent', () => {
    const queue = () => new TaskQueue(api.redis, api.keys, queueOptions(api.config, 'backend', 'backend-test'));
    /** Sends a job to backend with `key`, and has an agent take it and fail it. */
    async function failedJob(key: WithKey, description: string): Promise<string> {
      const sent = await post('/jobs', { domain: 'backend', description, context: { ticket: 7 } }, key);
      expect(sent.statusCode, sent.body).toBe(202);
      const id = sent.json().id as string;
      const claimed = (await queue().claim(100)).find((t) => t.taskId === id);
      expect(claimed).toBeDefined();
      expect(await queue().finish(claimed!, { status: 'failed', output: { failure: { code: 'internal', retryable: false } }, error: 'the worker crashed' })).toBe(true);
      return id;
    }

    it('sends it again as a new job linked to it, once; refuses jobs that have not failed (409)', async () => {
      const id = await failedJob(acme, 'Add a health endpoint');
      expect((await post(`/jobs/${id}/retry`, {}, globex)).statusCode).toBe(404);
      expect((await post(`/jobs/${id}/retry`, {}, reader)).statusCode).toBe(403);
      const retried = await post(`/jobs/${id}/retry`, {}, acme);
      expect(retried.statusCode, retried.body).toBe(200);
      expect(retried.json()).toEqual({ id: `${id}.r1`, status: 'QUEUED', dan_status: 'pending', domain: 'backend', dead_letter: null, retry_of: id, location: `/jobs/${id}.r1` });
      expect((await get(`/jobs/${id}.r1`, acme)).json()).toMatchObject({ status: 'QUEUED', client: 'acme', domain: 'backend' });
      const raw = (await api.redis.lrange(api.keys.pending('backend'), 0, -1)).map((r) => JSON.parse(r) as { task_id: string; payload: Record<string, unknown>; metadata: Record<string, unknown> }).find((t) => t.task_id === `${id}.r1`);
      expect(raw).toMatchObject({ payload: { description: 'Add a health endpoint', context: { ticket: 7 } }, metadata: { client_id: 'acme', retry_of: id } });

      const again = await post(`/jobs/${id}/retry`, {}, acme);
      expect(again.statusCode).toBe(409);
      expect(again.json().error).toMatchObject({ code: 'already_retried', message: expect.stringContaining(`${id}.r1`) });
      const pending = await post(`/jobs/${id}.r1/retry`, {}, acme);
      expect(pending.statusCode).toBe(409);
      expect(pending.json().error).toMatchObject({ code: 'not_failed', message: expect.stringContaining('QUEUED') });
    });

    it('queues one new job when two retries of the same job arrive together', async () => {
      const id = await failedJob(acme, 'Rename the users table');
      const replies = await Promise.all([post(`/jobs/${id}/retry`, {}, acme), post(`/jobs/${id}/retry`, {}, acme)]);
      expect(replies.map((r) => r.statusCode).sort()).toEqual([200, 409]);
      expect(replies.find((r) => r.statusCode === 409)!.json().error.code).toBe('already_retried');
      const copies = (await api.redis.lrange(api.keys.pending('backend'), 0, -1)).filter((r) => r.includes(`"${id}.r1"`));
      expect(copies).toHaveLength(1);
    });

    it("counts a retry against the key's jobs in flight (429 with Retry-After)", async () => {
      const { key } = await new ApiKeys(api.redis, api.keys).create('initech', 'submit', { maxInFlight: 1 });
      const initech = { headers: { authorization: `Bearer ${key}` } };
      const failed = await failedJob(initech, 'Fix the login form');
      const other = await post('/jobs', { domain: 'backend', description: 'Another job' }, initech);
      expect(other.statusCode).toBe(202);
      const full = await post(`/jobs/${failed}/retry`, {}, initech);
      expect(full.statusCode, full.body).toBe(429);
      expect(full.headers['retry-after']).toBe('5');
      expect(await api.redis.exists(api.keys.result(`${failed}.r1`))).toBe(0);
      await post(`/jobs/${other.json().id as string}/cancel`, {}, initech);
      expect((await post(`/jobs/${failed}/retry`, {}, initech)).statusCode).toBe(200);
      expect((await post('/jobs', { domain: 'backend', description: 'One too many' }, initech)).statusCode).toBe(429);
    });
  });

  it('documents every new route, and 429 on every keyed route, in /openapi.json', async () => {
    const doc = (await get('/openapi.json', reader)).json() as { paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>> };
    for (const [route, methods] of [['/elf/stats', ['get']], ['/elf/heuristics', ['get']], ['/elf/golden-rules', ['get']], ['/elf/search', ['get']], ['/elf/hotspots', ['get']],
      ['/farms', ['post', 'get']], ['/farms/{id}', ['get']], ['/farms/{id}/stop', ['post']], ['/keys', ['get', 'post']], ['/keys/{id}', ['delete']]] as const) {
      for (const method of methods) expect(doc.paths[route]?.[method], `${method} ${route}`).toBeDefined();
    }
    const keyed = Object.entries(doc.paths).flatMap(([route, methods]) => Object.entries(methods).filter(([, op]) => !(Array.isArray(op.security) && op.security.length === 0)).map(([method, op]) => [`${method} ${route}`, op] as const));
    expect(keyed.length).toBeGreaterThan(20);
    expect(keyed.filter(([, op]) => op.responses['429'] === undefined).map(([name]) => name)).toEqual([]);
  });
});

describe('the ELF endpoints without a running ELF', () => {
  let api: TestApi;
  beforeAll(async () => { api = await startTestApi({ env: { DAN_ELF_TIMEOUT_MS: '300' } }); });
  afterAll(async () => api.close());

  it('answer 503 elf_not_running with how to start it, instead of waiting', async () => {
    const reader = await api.key('acme', 'read');
    for (const url of ['/elf/stats', '/elf/heuristics', '/elf/search?q=x']) {
      const reply = await api.app.inject({ method: 'GET', url, headers: reader.headers });
      expect(reply.statusCode, reply.body).toBe(503);
      expect(reply.json().error).toMatchObject({ code: 'elf_not_running', message: expect.stringContaining("'dan up' starts it") });
      expect(reply.headers['retry-after']).toBeDefined();
    }
  });
});
