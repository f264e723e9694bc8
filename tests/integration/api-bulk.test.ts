import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetters } from '../../lib/redis/dead-letters.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';

const json = { 'content-type': 'application/json' };
type Key = Awaited<ReturnType<TestApi['key']>>;

function task(client: string, description: string, domain = 'main'): SubmitInput {
  return { domain, description, type: 'task_assignment', source: 'test', requirements: [], context: {}, priority: 'normal', extraMetadata: { client_id: client } };
}

/** The bulk actions by filter against a real Redis: each item through its single action, the caller's only. */
describe('the HTTP API: bulk actions', () => {
  let api: TestApi;
  let acme: Key;
  let globex: Key;
  let reader: Key;

  beforeAll(async () => {
    api = await startTestApi();
    acme = await api.key('acme');
    globex = await api.key('globex');
    reader = await api.key('acme', 'read');
  });
  afterAll(async () => api.close());

  const post = (url: string, body: unknown, headers: Record<string, string>) =>
    api.app.inject({ method: 'POST', url, headers: { ...json, ...headers }, payload: JSON.stringify(body) });
  const status = async (id: string) => api.redis.hget(api.keys.result(id), 'status');
  /** Sends `count` tasks of `client` to `domain` nobody serves and dead-letters them, as an agent would. */
  async function deadLettered(client: string, domain: string, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await submitTask(api.redis, api.keys, task(client, `lost ${i}`, domain))).taskId);
    await new TaskQueue(api.redis, api.keys, queueOptions(api.config, domain, 'main-test')).deadLetterPending(`nobody serves ${domain}`);
    return ids;
  }

  it("cancels the caller's jobs a filter matches, never another client's, and skips those already ended", async () => {
    const mine = [];
    for (const text of ['bulk one', 'bulk two', 'other work']) mine.push((await post('/jobs', { description: text }, acme.headers)).json().id as string);
    const theirs = (await post('/jobs', { description: 'bulk theirs' }, globex.headers)).json().id as string;

    const cancelled = await post('/jobs/bulk/cancel', { q: 'bulk', status: 'QUEUED' }, acme.headers);
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    // Jobs sent in one millisecond list in either order: compare as sets.
    expect(cancelled.json()).toEqual({ matched: 2, done: expect.arrayContaining([mine[0], mine[1]]), skipped: [] });
    expect(await status(mine[0]!)).toBe('failed');
    expect(await status(mine[2]!)).toBe('pending');
    expect(await status(theirs)).toBe('pending');

    // Without a status the ended ones match too, and are skipped with their single action's answer.
    const again = (await post('/jobs/bulk/cancel', { q: 'bulk', limit: 5 }, acme.headers)).json();
    expect(again).toMatchObject({ matched: 2, done: [] });
    expect(again.skipped).toEqual(expect.arrayContaining([mine[0], mine[1]].map((id) => ({ id, code: 'already_ended', reason: expect.stringContaining('already ended') }))));
    // limit bounds what is touched.
    expect((await post('/jobs/bulk/cancel', { limit: 1, status: 'QUEUED' }, acme.headers)).json()).toEqual({ matched: 1, done: [mine[2]], skipped: [] });
    expect(await status(theirs)).toBe('pending');
  });

  it('retries the failed jobs a filter matches through the single retry, and skips the rest with why', async () => {
    const lost = await deadLettered('acme', 'ghost', 2);
    await deadLettered('globex', 'ghost', 1);
    const pending = (await post('/jobs', { description: 'lost but waiting' }, acme.headers)).json().id as string;
    const answer = await post('/jobs/bulk/retry', { q: 'lost' }, acme.headers);
    expect(answer.statusCode, answer.body).toBe(200);
    // 'ghost' is served by nobody: each retry is refused as POST /jobs/{id}/retry refuses it.
    // Tasks sent in one millisecond list in either order: compare by id.
    const body = answer.json() as { matched: number; done: string[]; skipped: { id: string }[] };
    expect({ ...body, skipped: [...body.skipped].sort((a, b) => a.id.localeCompare(b.id)) }).toEqual({
      matched: 3, done: [],
      skipped: [
        { id: pending, code: 'not_failed', reason: expect.stringContaining('not FAILED') },
        ...lost.map((id) => ({ id, code: 'unknown_domain', reason: expect.stringContaining('nobody serves') })),
      ].sort((a, b) => a.id.localeCompare(b.id)),
    });
    // The filters are GET /jobs's: only the failed ones now.
    const statusFailed = await post('/jobs/bulk/retry', { q: 'lost', status: 'FAILED' }, acme.headers);
    expect(statusFailed.json()).toMatchObject({ matched: 2, done: [], skipped: [{ code: 'unknown_domain' }, { code: 'unknown_domain' }] });
  });

  it('retries a job that failed on an agent as its new job, once', async () => {
    const sent = (await post('/jobs', { domain: 'backend', description: 'crashed once' }, acme.headers)).json().id as string;
    const queue = new TaskQueue(api.redis, api.keys, queueOptions(api.config, 'backend', 'backend-test'));
    const claimed = (await queue.claim(100)).find((t) => t.taskId === sent);
    expect(await queue.finish(claimed!, { status: 'failed', output: { failure: { code: 'internal', retryable: false } }, error: 'the worker crashed' })).toBe(true);
    expect((await post('/jobs/bulk/retry', { q: 'crashed', status: 'FAILED' }, acme.headers)).json()).toEqual({ matched: 1, done: [sent], skipped: [] });
    expect(await status(`${sent}.r1`)).toBe('pending');
    const again = (await post('/jobs/bulk/retry', { q: 'crashed', status: 'FAILED' }, acme.headers)).json();
    expect(again).toEqual({ matched: 1, done: [], skipped: [{ id: sent, code: 'already_retried', reason: expect.stringContaining(`${sent}.r1`) }] });
  });

  it("retries and purges the caller's dead letters, never another client's", async () => {
    const mine = await deadLettered('acme', 'limbo', 2);
    const theirs = await deadLettered('globex', 'limbo', 1);
    const store = new DeadLetters(api.redis, api.keys);
    const refsOf = async (ids: string[]) => (await store.read('limbo')).filter((e) => ids.includes(e.taskId ?? '')).map((e) => e.ref);
    const myRefs = await refsOf(mine);
    expect(myRefs).toHaveLength(2);

    const unserved = (await post('/dead-letters/bulk/retry', { domain: 'limbo' }, acme.headers)).json();
    expect(unserved).toMatchObject({ matched: 2, done: [] });
    expect(unserved.skipped.map((s: { code: string }) => s.code)).toEqual(['unknown_domain', 'unknown_domain']);

    const purged = await post('/dead-letters/bulk/purge', { domain: 'limbo', limit: 1 }, acme.headers);
    expect(purged.statusCode, purged.body).toBe(200);
    expect(purged.json()).toEqual({ matched: 1, done: [myRefs[0]], skipped: [] });
    expect(await refsOf(mine)).toEqual([myRefs[1]]);
    expect((await post('/dead-letters/bulk/purge', { domain: 'limbo' }, acme.headers)).json()).toEqual({ matched: 1, done: [myRefs[1]], skipped: [] });
    expect(await refsOf(mine)).toEqual([]);
    expect(await refsOf(theirs)).toHaveLength(1);
    // Nothing left of acme's: matched 0, and globex's entry stays.
    expect((await post('/dead-letters/bulk/retry', { domain: 'limbo' }, acme.headers)).json()).toEqual({ matched: 0, done: [], skipped: [] });
    expect(await refsOf(theirs)).toHaveLength(1);
  });

  it('queues dead letters again when their domain is served', async () => {
    // frontend is a domain of the catalog: known, so its dead letters may go back on its queue.
    const [id] = await deadLettered('acme', 'frontend', 1);
    const answer = (await post('/dead-letters/bulk/retry', { domain: 'frontend' }, acme.headers)).json();
    expect(answer).toMatchObject({ matched: 1, skipped: [] });
    expect(answer.done).toHaveLength(1);
    expect(await status(id!)).toBe('pending');
    expect((await api.redis.lrange(api.keys.pending('frontend'), 0, -1)).some((raw) => raw.includes(id!))).toBe(true);
  });

  it('refuses a read key (403), no key (401) and bad bodies (400), touching nothing', async () => {
    const id = (await post('/jobs', { description: 'keep me' }, acme.headers)).json().id as string;
    for (const url of ['/jobs/bulk/cancel', '/jobs/bulk/retry', '/dead-letters/bulk/retry', '/dead-letters/bulk/purge']) {
      expect((await post(url, {}, reader.headers)).statusCode, url).toBe(403);
      expect((await api.app.inject({ method: 'POST', url, headers: json, payload: '{}' })).statusCode, url).toBe(401);
      for (const body of [{ limit: 0 }, { limit: 1001 }, { limit: '5' }, { domain: 'Bad Domain' }, { extra: 1 }, [], 'x']) {
        const answer = await post(url, body, acme.headers);
        expect(answer.statusCode, `${url} ${JSON.stringify(body)}`).toBe(400);
        expect(answer.json().error.code).toBe('invalid_input');
      }
      expect((await api.app.inject({ method: 'POST', url, headers: { ...acme.headers, 'content-type': 'text/plain' }, payload: '{}' })).statusCode, url).toBe(415);
    }
    for (const body of [{ status: 'DONE' }, { since: 'yesterday' }, { parent: '.x' }, { cursor: 'abc' }]) {
      const answer = await post('/jobs/bulk/cancel', body, acme.headers);
      expect(answer.statusCode, JSON.stringify(body)).toBe(400);
    }
    expect(await status(id)).toBe('pending');
  });

  it('documents the bulk routes in /openapi.json', async () => {
    const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json', headers: reader.headers })).json();
    for (const path of ['/jobs/bulk/cancel', '/jobs/bulk/retry', '/dead-letters/bulk/retry', '/dead-letters/bulk/purge']) {
      expect(doc.paths[path]?.post?.responses?.['200'], path).toBeDefined();
    }
    for (const path of ['/jobs/{id}/diff', '/jobs/{id}/lessons', '/jobs/{id}/timeline']) expect(doc.paths[path]?.get, path).toBeDefined();
  });
});
