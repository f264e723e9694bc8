import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';
import { PlanStore } from '../../lib/redis/plan-store.js';

const json = { 'content-type': 'application/json' };
const seedEcho = { job_type: 'echo', payload: { message: 'hello', n: 1 } };

/** The HTTP API against a real Redis, in this process (Fastify's inject: no socket). */
describe('the HTTP API with keys', () => {
  let api: TestApi;
  let acme: Awaited<ReturnType<TestApi['key']>>;
  let globex: Awaited<ReturnType<TestApi['key']>>;
  let reader: Awaited<ReturnType<TestApi['key']>>;

  beforeAll(async () => {
    api = await startTestApi();
    acme = await api.key('Acme');
    globex = await api.key('globex');
    reader = await api.key('acme', 'read');
  });
  afterAll(async () => api.close());

  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    api.app.inject({ method: 'POST', url, headers: { ...json, ...headers }, payload: JSON.stringify(body) });
  const get = (url: string, headers: Record<string, string> = {}) => api.app.inject({ method: 'GET', url, headers });

  it('answers /health to anyone and everything else only with a key', async () => {
    expect((await get('/health')).json()).toEqual({ status: 'ok' });
    for (const [method, url] of [['GET', '/jobs/x1'], ['POST', '/jobs'], ['GET', '/agents'], ['GET', '/openapi.json'], ['GET', '/ready'], ['POST', '/jobs/x1/cancel']] as const) {
      const reply = await api.app.inject({ method, url });
      expect(reply.statusCode, `${method} ${url}`).toBe(401);
      expect(reply.json().error.code).toBe('unauthorized');
    }
    const wrong = await post('/jobs', seedEcho, { authorization: 'Bearer dan-api-nope' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ error: { code: 'unauthorized', message: expect.stringContaining('dan keys create') } });
  });

  it("takes the seed's echo body verbatim and gives the job its key's client, never the payload's", async () => {
    const reply = await post('/jobs', { ...seedEcho, payload: { ...seedEcho.payload, client_id: 'globex' } }, acme.headers);
    expect(reply.statusCode).toBe(202);
    const body = reply.json();
    expect(body).toMatchObject({ status: 'QUEUED', dan_status: 'pending', domain: 'main', client: 'acme', replayed: false });
    expect(reply.headers['location']).toBe(`/jobs/${body.id}`);
    const [raw] = await api.redis.lrange(api.keys.pending('main'), 0, -1);
    const task = JSON.parse(raw as string);
    expect(task).toMatchObject({ task_id: body.id, type: 'echo', source: 'api', payload: { message: 'hello', n: 1 }, metadata: { client_id: 'acme' } });
    expect(await api.redis.hget(api.keys.result(body.id), 'client_id')).toBe('acme');

    const read = await get(body.id ? `/jobs/${body.id}` : '', acme.headers);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ id: body.id, status: 'QUEUED', dan_status: 'pending', client: 'acme', output: null, sub_tasks: [], tokens: null });
  });

  it("answers another client's job exactly as a missing one: 404", async () => {
    const { id } = (await post('/jobs', { domain: 'main', description: 'add a health endpoint', priority: 'high', timeout_seconds: 60, max_attempts: 2, context: { path: 'src' }, requirements: ['tested'] }, acme.headers)).json();
    const theirs = await get(`/jobs/${id}`, globex.headers);
    const missing = await get('/jobs/no-such-job', globex.headers);
    // The longest id the protocol allows is looked up, not refused by the router.
    expect((await get(`/jobs/${'a'.repeat(128)}`, globex.headers)).statusCode).toBe(404);
    expect(theirs.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    expect(theirs.json()).toEqual(JSON.parse(missing.body.replaceAll('no-such-job', id)));
    const cancel = await post(`/jobs/${id}/cancel`, {}, globex.headers);
    expect(cancel.statusCode).toBe(404);
    expect(await api.redis.hget(api.keys.result(id), 'status')).toBe('pending');
    // Its own client reads it, with dan's fields as sent.
    const task = JSON.parse((await api.redis.lrange(api.keys.pending('main'), 0, -1)).find((t) => t.includes(id)) as string);
    expect(task).toMatchObject({ payload: { description: 'add a health endpoint', context: { path: 'src' }, requirements: ['tested'] }, metadata: { priority: 'high', timeout_seconds: 60, max_attempts: 2, client_id: 'acme' } });
    expect((await get(`/jobs/${id}`, acme.headers)).statusCode).toBe(200);
  });

  it("shows a running job's sub-tasks from its plan to its client only, and refuses a bad id (400) or no key (401) first", async () => {
    const { id } = (await post('/jobs', { description: 'plan me' }, acme.headers)).json();
    await new PlanStore(api.redis, api.keys).storeOnce(id, { steps: [{ domain: 'backend' }, { domain: 'frontend' }] }, 60_000);
    await api.redis.hset(api.keys.result(`${id}-backend`), 'status', 'in_progress');
    const read = await get(`/jobs/${id}`, acme.headers);
    expect(read.json().sub_tasks).toEqual([
      { id: `${id}-backend`, status: 'RUNNING', dan_status: 'in_progress', error: null },
      { id: `${id}-frontend`, status: null, dan_status: 'not queued yet', error: null },
    ]);
    expect((await get(`/jobs/${id}`, globex.headers)).statusCode).toBe(404);
    expect((await get(`/jobs/${id}`)).statusCode).toBe(401);
    expect((await get('/jobs/bad%20id', acme.headers)).statusCode).toBe(400);
    expect((await get('/jobs/bad%20id')).statusCode).toBe(401);
  });

  it('lets a read key read but not send or cancel (403)', async () => {
    const sent = await post('/jobs', seedEcho, reader.headers);
    expect(sent.statusCode).toBe(403);
    expect(sent.json().error.code).toBe('forbidden');
    expect(sent.json().error.message).toContain('--role submit');
    const { id } = (await post('/jobs', seedEcho, acme.headers)).json();
    expect((await get(`/jobs/${id}`, { 'x-api-key': reader.key })).statusCode).toBe(200);
    expect((await post(`/jobs/${id}/cancel`, {}, reader.headers)).statusCode).toBe(403);
  });

  it('answers a retried submit with the same Idempotency-Key with the first job', async () => {
    const before = await api.redis.llen(api.keys.pending('main'));
    const first = await post('/jobs', seedEcho, { ...acme.headers, 'idempotency-key': 'order-42' });
    const again = await post('/jobs', seedEcho, { ...acme.headers, 'idempotency-key': 'order-42' });
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({ id: first.json().id, replayed: true });
    expect(again.headers['location']).toBe(first.headers['location']);
    expect(await api.redis.llen(api.keys.pending('main'))).toBe(before + 1);
    // A replay answers the first job as it stands now.
    await post(`/jobs/${first.json().id}/cancel`, {}, acme.headers);
    expect((await post('/jobs', seedEcho, { ...acme.headers, 'idempotency-key': 'order-42' })).json()).toMatchObject({ id: first.json().id, status: 'FAILED', dan_status: 'failed', replayed: true });
    // Another client's same key is another job.
    const theirs = await post('/jobs', seedEcho, { ...globex.headers, 'idempotency-key': 'order-42' });
    expect(theirs.json().id).not.toBe(first.json().id);
    expect((await post('/jobs', seedEcho, { ...acme.headers, 'idempotency-key': 'bad key with spaces' })).statusCode).toBe(400);
  });

  it('queues one job when retries with one Idempotency-Key arrive at once', async () => {
    const before = await api.redis.llen(api.keys.pending('main'));
    const replies = await Promise.all(Array.from({ length: 8 }, () => post('/jobs', seedEcho, { ...acme.headers, 'idempotency-key': 'burst-1' })));
    expect(new Set(replies.map((r) => r.statusCode))).toEqual(new Set([202]));
    expect(new Set(replies.map((r) => r.json().id)).size).toBe(1);
    expect(replies.filter((r) => !r.json().replayed)).toHaveLength(1);
    expect(await api.redis.llen(api.keys.pending('main'))).toBe(before + 1);
  });

  it('cancels a job of its own, once', async () => {
    const { id } = (await post('/jobs', seedEcho, acme.headers)).json();
    const cancel = await post(`/jobs/${id}/cancel`, { reason: 'changed my mind' }, acme.headers);
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json()).toEqual({ id, outcome: 'cancelled', was_running_on: null, sub_tasks: [] });
    expect((await get(`/jobs/${id}`, acme.headers)).json()).toMatchObject({ status: 'FAILED', dan_status: 'failed', error: 'cancelled', failure_code: 'cancelled' });
    const again = await api.app.inject({ method: 'POST', url: `/jobs/${id}/cancel`, headers: acme.headers });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('already_ended');
  });

  it('refuses bad input with 4xx and the error shape, writing nothing', async () => {
    const before = await api.keyCount();
    const cases: Array<[unknown, number, string]> = [
      [{ domain: 'nowhere', description: 'x' }, 422, 'unknown_domain'],
      [{ domain: 'backend' }, 400, 'invalid_input'],
      [{ description: 'x', client_id: 'globex' }, 400, 'invalid_input'],
      [{ description: 'x', timeout_seconds: -1 }, 400, 'invalid_input'],
      [{ description: 'x', max_attempts: 1000 }, 400, 'invalid_input'],
      [{ job_type: 'sleep', payload: {} }, 400, 'invalid_input'],
      [{ description: 'x', payload: { a: 1 } }, 400, 'invalid_input'],
      [{ description: 'x', domain: 'Back End' }, 400, 'invalid_input'],
      [[1, 2], 400, 'invalid_input'],
      ['text', 400, 'invalid_input'],
      [null, 400, 'invalid_input'],
      [{ description: 'x'.repeat(70 * 1024) }, 400, 'invalid_input'],
    ];
    for (const [body, status, code] of cases) {
      const reply = await post('/jobs', body, acme.headers);
      expect(reply.statusCode, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(reply.json(), JSON.stringify(body).slice(0, 80)).toEqual({ error: { code, message: expect.any(String) } });
    }
    const notJson = await api.app.inject({ method: 'POST', url: '/jobs', headers: { ...json, ...acme.headers }, payload: '{"job_type": "echo",' });
    expect(notJson.statusCode).toBe(400);
    const plain = await api.app.inject({ method: 'POST', url: '/jobs', headers: { 'content-type': 'text/plain', ...acme.headers }, payload: 'echo' });
    expect(plain.statusCode).toBe(415);
    expect(plain.json().error.code).toBe('unsupported_media_type');
    const badId = await get('/jobs/x:logs', acme.headers);
    expect(badId.statusCode).toBe(400);
    expect(badId.json().error.message).toContain('task id');
    expect((await get('/nowhere', acme.headers)).json().error.code).toBe('not_found');
    expect(await api.keyCount()).toBe(before);
  });

  it('is ready once Redis answers and a main orchestrator is registered', async () => {
    const notReady = await get('/ready', reader.headers);
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().error).toMatchObject({ code: 'not_ready', message: expect.stringContaining('dan up') });
    await api.redis.set(api.keys.agentsMain(), 'main-test');
    await api.redis.set(api.keys.heartbeat('main-test'), new Date().toISOString(), 'PX', 60_000);
    expect((await get('/ready', reader.headers)).json()).toEqual({ status: 'ready', main: 'main-test' });
  });

  it('lists agents and queues as dan agents does', async () => {
    const reply = await get('/agents', reader.headers);
    expect(reply.statusCode).toBe(200);
    expect(reply.json().queues).toContainEqual(expect.objectContaining({ domain: 'main', pending: expect.any(Number) }));
  });

  it('serves the OpenAPI document generated from the schemas it validates with', async () => {
    const doc = (await get('/openapi.json', reader.headers)).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/jobs', '/jobs/{id}', '/jobs/{id}/cancel', '/health', '/ready', '/agents']));
    const schemas = JSON.stringify(doc.components.schemas);
    for (const field of ['job_type', 'timeout_seconds', 'max_attempts', 'failure_code']) expect(schemas).toContain(field);
  });

  it('refuses a revoked key at its next request', async () => {
    const temp = await api.key('initech');
    expect((await get('/jobs/x1', temp.headers)).statusCode).toBe(404);
    const { ApiKeys } = await import('../../lib/redis/api-keys.js');
    expect(await new ApiKeys(api.redis, api.keys).revoke(temp.id)).toMatchObject({ client: 'initech' });
    expect((await get('/jobs/x1', temp.headers)).statusCode).toBe(401);
  });
});

describe('the HTTP API without keys', () => {
  let api: TestApi;
  beforeAll(async () => { api = await startTestApi({ env: { DAN_API_MAX_BODY_BYTES: '2000' } }); });
  afterAll(async () => api.close());

  it('answers anyone on loopback, as the default client', async () => {
    const reply = await api.app.inject({ method: 'POST', url: '/jobs', headers: json, payload: JSON.stringify(seedEcho) });
    expect(reply.statusCode).toBe(202);
    expect(reply.json().client).toBe('default');
    expect((await api.app.inject({ method: 'GET', url: reply.headers['location'] as string })).json()).toMatchObject({ client: 'default', status: 'QUEUED' });
  });

  it('answers a body over DAN_API_MAX_BODY_BYTES with 413 and writes nothing', async () => {
    const before = await api.keyCount();
    const reply = await api.app.inject({ method: 'POST', url: '/jobs', headers: json, payload: JSON.stringify({ job_type: 'echo', payload: { big: 'x'.repeat(3000) } }) });
    expect(reply.statusCode).toBe(413);
    expect(reply.json().error.code).toBe('body_too_large');
    expect(await api.keyCount()).toBe(before);
  });

  it('refuses requests without a key when it listens beyond loopback, even with no key defined', async () => {
    const open = await startTestApi({ requireKey: true });
    try {
      expect((await open.app.inject({ method: 'GET', url: '/agents' })).statusCode).toBe(401);
      expect((await open.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    } finally {
      await open.close();
    }
  });
});
