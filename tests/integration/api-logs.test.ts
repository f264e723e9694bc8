import type { IncomingMessage } from 'node:http';
import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../../lib/logger.js';
import { appendLog } from '../../lib/redis/task-store.js';
import { buildApiServer } from '../../src/api/api-server.js';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { until } from '../support/until.js';

interface SseEvent { id?: string; event: string; data: Record<string, unknown> }

/** The events of a text/event-stream body. */
function parseEvents(body: string): SseEvent[] {
  return body.split('\n\n').filter((block) => block.trim() !== '').map((block) => {
    const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
    const id = field('id');
    return { ...(id !== undefined ? { id } : {}), event: field('event') ?? 'message', data: JSON.parse(field('data') ?? 'null') as Record<string, unknown> };
  });
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

describe('GET /jobs/{id}/logs', () => {
  let api: TestApi;
  beforeAll(async () => { api = await startTestApi(); });
  afterAll(async () => api?.close());

  /** A task of `client` with lines of its own and of one sub-task, in `status`. */
  async function task(id: string, client: string, status: string): Promise<void> {
    const children = JSON.stringify({ children: { [`${id}-backend`]: { domain: 'backend', status } } });
    await api.redis.hset(api.keys.result(id), 'task_id', id, 'status', status, 'client_id', client, 'domain', 'main', 'output', children);
    await appendLog(api.redis, api.keys, { taskId: id, agentId: 'main-0000000a', domain: 'main', message: 'routed to backend' });
    await appendLog(api.redis, api.keys, { taskId: `${id}-backend`, agentId: 'backend-0000000b', domain: 'backend', message: 'claimed' });
    await appendLog(api.redis, api.keys, { taskId: id, agentId: 'main-0000000a', domain: 'main', message: 'all sub-tasks done' });
  }

  it('with follow=false sends the lines of the job and its sub-task, then its status, and closes', async () => {
    const { headers } = await api.key('acme', 'read');
    await task('logs-done', 'acme', 'completed');
    const answer = await api.app.inject({ method: 'GET', url: '/jobs/logs-done/logs?follow=false', headers });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = parseEvents(answer.body);
    // Lines written in the same millisecond may come in either list's order: compare as sets.
    expect(events.map((e) => `${e.event} ${String(e.data['task_id'])} ${String(e.data['agent'])}`).sort()).toEqual([
      'end undefined undefined',
      'log logs-done main-0000000a',
      'log logs-done main-0000000a',
      'log logs-done-backend backend-0000000b',
    ]);
    expect(events.at(-2)?.id).toBe('2,backend=1');
    expect(events.find((e) => e.data['task_id'] === 'logs-done-backend')?.data['line']).toMatch(/backend-0000000b: claimed$/);
    expect(typeof events[0]?.data['time']).toBe('string');
    expect(events.at(-1)).toEqual({ event: 'end', data: { id: 'logs-done', status: 'SUCCEEDED', dan_status: 'completed' } });

    // Resuming after the job's first line sends the other two; a finished job's stream ends at once.
    const resumed = parseEvents((await api.app.inject({ method: 'GET', url: '/jobs/logs-done/logs', headers: { ...headers, 'last-event-id': '1' } })).body);
    expect(resumed.map((e) => e.data['line'] ?? e.event).join('\n')).not.toMatch(/routed to backend/);
    expect(resumed.map((e) => e.event)).toEqual(['log', 'log', 'end']);
    expect(resumed.at(-2)?.id).toBe('2,backend=1');
  });

  it("answers another client's job as a missing one, and a Last-Event-ID it never sent with 400", async () => {
    await task('logs-theirs', 'acme', 'completed');
    const { headers } = await api.key('other-client', 'read');
    const theirs = await api.app.inject({ method: 'GET', url: '/jobs/logs-theirs/logs?follow=false', headers });
    expect(theirs.statusCode).toBe(404);
    expect(theirs.json()).toMatchObject({ error: { code: 'not_found' } });
    const own = await api.key('acme', 'read');
    const bad = await api.app.inject({ method: 'GET', url: '/jobs/logs-theirs/logs', headers: { ...own.headers, 'last-event-id': 'x;y' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'invalid_input', message: expect.stringContaining('Last-Event-ID') } });
    const query = await api.app.inject({ method: 'GET', url: '/jobs/logs-theirs/logs?follow=maybe', headers: own.headers });
    expect(query.statusCode).toBe(400);
  });

  describe('over a socket', () => {
    let app: FastifyInstance | undefined;
    afterEach(async () => app?.close());

    it('stops following when the client goes away, leaving no stream open', async () => {
      app = await buildApiServer({ redis: api.redis, keys: api.keys, config: api.config, logger: silentLogger });
      const base = await listen(app);
      const { headers } = await api.key('acme', 'read');
      await task('logs-running', 'acme', 'in_progress');
      // node:http without an agent: the request's own socket, closed when the client goes away.
      const request = get(`${base}/jobs/logs-running/logs`, { headers, agent: false });
      const response = await new Promise<IncomingMessage>((resolve, reject) => request.once('response', resolve).once('error', reject));
      expect(response.statusCode).toBe(200);
      const first = await new Promise<string>((resolve) => response.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      expect(first).toContain('event: log');
      expect(app.logStreams.open).toBe(1);
      request.destroy();
      const server = app;
      await until('the follower to stop', async () => server.logStreams.open === 0);
      // Nothing else was left behind: the server closes without waiting on the stream.
      await app.close();
      app = undefined;
    });

    it('ends its open streams when the server closes, instead of waiting for the jobs to end', async () => {
      app = await buildApiServer({ redis: api.redis, keys: api.keys, config: api.config, logger: silentLogger });
      const base = await listen(app);
      const { headers } = await api.key('acme', 'read');
      await task('logs-still-running', 'acme', 'in_progress');
      const request = get(`${base}/jobs/logs-still-running/logs`, { headers, agent: false });
      const response = await new Promise<IncomingMessage>((resolve, reject) => request.once('response', resolve).once('error', reject));
      let body = '';
      response.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      const ended = new Promise<void>((resolve) => response.once('end', resolve));
      await until('the first line', async () => body.includes('event: log'));
      await app.close();
      app = undefined;
      await ended;
      expect(body).not.toContain('event: end');
    });
  });
});

describe('GET /jobs/{id}/logs with a network running the job', () => {
  let network: TestNetwork;
  let app: FastifyInstance;
  beforeAll(async () => {
    network = await startTestNetwork();
    app = await buildApiServer({ redis: network.redis, keys: network.keys, config: network.config, logger: silentLogger });
  });
  afterAll(async () => {
    await app?.close();
    await network?.stop();
  });

  it("follows an echo job sent to main live, its sub-task's lines included, to event: end with its status", async () => {
    const base = await listen(app);
    const sent = await fetch(`${base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ job_type: 'echo', payload: { message: 'hello' } }) });
    expect(sent.status).toBe(202);
    const { id } = (await sent.json()) as { id: string };
    const stream = await fetch(`${base}/jobs/${id}/logs`);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    // The body ends when the server closes the stream, after the job ended.
    const events = parseEvents(await stream.text());
    const logs = events.filter((e) => e.event === 'log');
    expect(logs.some((e) => e.data['task_id'] === id)).toBe(true);
    expect(logs.some((e) => String(e.data['task_id']).startsWith(`${id}-`))).toBe(true);
    expect(events.at(-1)).toEqual({ event: 'end', data: { id, status: 'SUCCEEDED', dan_status: 'completed' } });
  }, 60_000);
});

describe('GET /docs', () => {
  let api: TestApi;
  beforeAll(async () => { api = await startTestApi(); });
  afterAll(async () => api?.close());

  it('serves a page of our own that renders /openapi.json, with no key and nothing from elsewhere', async () => {
    await api.key('someone', 'read');
    const page = await api.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain("fetch('/openapi.json'");
    expect(page.body).toContain('X-API-Key');
    // Everything is served by us: no address of another origin, and the policy allows none.
    expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; connect-src 'self'/);
    // The page needs no key; the document it reads still does.
    expect((await api.app.inject({ method: 'GET', url: '/openapi.json' })).statusCode).toBe(401);
    const { headers } = await api.key('acme', 'read');
    const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json', headers })).json();
    expect(Object.keys(doc.paths['/jobs/{id}/logs'].get.responses['200'].content)).toEqual(['text/event-stream']);
    expect(Object.keys(doc.paths['/jobs/{id}/logs'].get.responses['404'].content)).toEqual(['application/json']);
  });
});
