import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeys, type ApiKeyLimits } from '../../lib/redis/api-keys.js';
import { idempotentTaskId } from '../../src/api/job-routes.js';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';

let api: TestApi;
beforeAll(async () => {
  // Keys made without limits of their own get these.
  api = await startTestApi({ env: { DAN_API_RATE_PER_MINUTE: '2', DAN_API_MAX_IN_FLIGHT: '0' } });
});
afterAll(async () => {
  await api?.close();
});

async function keyWith(client: string, limits: ApiKeyLimits): Promise<Record<string, string>> {
  const { key } = await new ApiKeys(api.redis, api.keys).create(client, 'submit', limits);
  return { authorization: `Bearer ${key}` };
}
const read = (headers: Record<string, string>) => api.app.inject({ method: 'GET', url: '/jobs/no-such-job', headers });
const submit = (headers: Record<string, string>, extra: Record<string, string> = {}) =>
  api.app.inject({ method: 'POST', url: '/jobs', headers: { ...headers, ...extra }, payload: { job_type: 'echo', payload: { n: 1 } } });

describe("the HTTP API's per-key limits", () => {
  it('answers the request past a key\'s --rpm with 429 rate_limited and Retry-After; another key is not counted with it', async () => {
    const limited = await keyWith('acme', { ratePerMinute: 3, maxInFlight: 0 });
    const other = await keyWith('acme', { ratePerMinute: 3, maxInFlight: 0 });
    for (let i = 0; i < 3; i++) expect((await read(limited)).statusCode).toBe(404);
    const refused = await read(limited);
    expect(refused.statusCode).toBe(429);
    const after = Number(refused.headers['retry-after']);
    expect(after).toBeGreaterThanOrEqual(1);
    expect(after).toBeLessThanOrEqual(60);
    expect(refused.json().error.code).toBe('rate_limited');
    expect(refused.json().error.message).toMatch(/may make 3 requests a minute/);
    expect((await read(other)).statusCode).toBe(404);
  });

  it('gives a key without its own rate DAN_API_RATE_PER_MINUTE, and one with --rpm 0 none', async () => {
    const byDefault = await keyWith('acme', {});
    expect((await read(byDefault)).statusCode).toBe(404);
    expect((await read(byDefault)).statusCode).toBe(404);
    expect((await read(byDefault)).statusCode).toBe(429);
    const unlimited = await keyWith('acme', { ratePerMinute: 0 });
    for (let i = 0; i < 5; i++) expect((await read(unlimited)).statusCode).toBe(404);
  });

  it('refuses a submit past --max-in-flight with 429 until one of the jobs ends; a replayed submit is not refused', async () => {
    const key = await keyWith('beta', { ratePerMinute: 0, maxInFlight: 1 });
    const first = await submit(key, { 'idempotency-key': 'one' });
    expect(first.statusCode).toBe(202);
    const second = await submit(key);
    expect(second.statusCode).toBe(429);
    expect(second.headers['retry-after']).toBe('5');
    expect(second.json().error.message).toMatch(/may have 1 jobs in flight/);
    // The same job again is no second job in flight.
    const replay = await submit(key, { 'idempotency-key': 'one' });
    expect(replay.statusCode).toBe(202);
    expect(replay.json().replayed).toBe(true);
    // Nothing runs the echo here: cancelling it ends it, and its place is free.
    expect((await api.app.inject({ method: 'POST', url: `/jobs/${first.json().id}/cancel`, headers: key })).statusCode).toBe(200);
    const third = await submit(key);
    expect(third.statusCode).toBe(202);
    // Another key of the same client has places of its own.
    expect((await submit(await keyWith('beta', { ratePerMinute: 0, maxInFlight: 1 }))).statusCode).toBe(202);
  });

  it('refuses, writing nothing, a submit of a client DAN_CLIENTS does not list', async () => {
    const served = await startTestApi({ env: { DAN_CLIENTS: 'acme' } });
    try {
      const { headers } = await served.key('zeta');
      const before = await served.keyCount();
      const refused = await served.app.inject({ method: 'POST', url: '/jobs', headers, payload: { job_type: 'echo', payload: {} } });
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.message).toContain("client 'zeta' is not one this network serves (DAN_CLIENTS: acme)");
      expect(await served.keyCount()).toBe(before);
      expect((await served.app.inject({ method: 'POST', url: '/jobs', headers: (await served.key('acme')).headers, payload: { job_type: 'echo', payload: {} } })).statusCode).toBe(202);
    } finally {
      await served.close();
    }
  });

  it('gives back the place of a submit that was refused', async () => {
    const key = await keyWith('gamma', { ratePerMinute: 0, maxInFlight: 1 });
    const unknown = await api.app.inject({ method: 'POST', url: '/jobs', headers: key, payload: { domain: 'no-such-domain', description: 'x' } });
    expect(unknown.statusCode).toBe(422);
    expect((await submit(key)).statusCode).toBe(202);
  });

  it('refuses a submit past DAN_MAX_QUEUE_DEPTH with 503 queue_full, queueing nothing and giving back its place in flight', async () => {
    const full = await startTestApi({ env: { DAN_MAX_QUEUE_DEPTH: '2' } });
    try {
      const { key } = await new ApiKeys(full.redis, full.keys).create('delta', 'submit', { ratePerMinute: 0, maxInFlight: 3 });
      const headers = { authorization: `Bearer ${key}` };
      const send = (extra: Record<string, string> = {}) => full.app.inject({ method: 'POST', url: '/jobs', headers: { ...headers, ...extra }, payload: { job_type: 'echo', payload: {} } });
      expect((await send()).statusCode).toBe(202);
      expect((await send({ 'idempotency-key': 'kept' })).statusCode).toBe(202);
      const refused = await send({ 'idempotency-key': 'refused' });
      expect(refused.statusCode).toBe(503);
      expect(refused.json().error).toEqual({ code: 'queue_full', message: expect.stringContaining('the main queue is full: 2 tasks wait (DAN_MAX_QUEUE_DEPTH=2)') });
      expect(await full.redis.llen(full.keys.pending('main'))).toBe(2);
      // The refused job left no result behind, so the same key may be sent again once there is room.
      expect((await full.app.inject({ method: 'GET', url: `/jobs/${idempotentTaskId('delta', 'refused')}`, headers })).statusCode).toBe(404);
      // A replay of a job already queued is answered, not refused: it adds nothing to the queue.
      expect((await send({ 'idempotency-key': 'kept' })).json()).toMatchObject({ replayed: true });
      await full.redis.rpop(full.keys.pending('main'));
      // Its place among the key's 3 in flight was given back: room for exactly one more.
      expect((await send()).statusCode).toBe(202);
    } finally {
      await full.close();
    }
  });
});
