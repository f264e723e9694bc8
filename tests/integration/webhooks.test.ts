import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { WebhookStore } from '../../lib/redis/webhooks.js';
import { verifyWebhookSignature } from '../../lib/webhooks/webhook-signature.js';
import { buildApiServer } from '../../src/api/api-server.js';
import { createTestKey } from '../support/api.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const CLI = path.join(packageRoot(), 'dist', 'bundle', 'cli.mjs');

interface Received {
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A real HTTP receiver: records each POST, and answers with what `answer` says (a status, or 'hang' to never answer). */
async function receiver(answer: (n: number) => number | 'hang'): Promise<{ url: string; got: Received[]; close: () => Promise<void> }> {
  const got: Received[] = [];
  const hung: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    req.on('end', () => {
      got.push({ body, headers: req.headers });
      const what = answer(got.length);
      if (what === 'hang') { hung.push(res); return; }
      res.writeHead(what).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`, got,
    close: () => new Promise<void>((resolve) => { for (const res of hung) res.destroy(); server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Webhooks on a whole network: signed deliveries of task state changes, retried, logged, never in the tasks' way. */
describe('webhooks', () => {
  let network: TestNetwork;
  let api: FastifyInstance;
  const closers: Array<() => Promise<void>> = [];
  const dan = (...args: string[]) => runProcess(process.execPath, [CLI, 'webhooks', ...args], { env: cliEnv(network) });
  const store = () => new WebhookStore(network.redis, network.keys);

  beforeAll(async () => {
    // A hanging receiver keeps its attempt open this long: far past the test, so only the loop's design keeps others going.
    network = await startTestNetwork({ env: { DAN_WEBHOOK_TIMEOUT_MS: '120000' } });
    api = await buildApiServer({ redis: network.redis, keys: network.keys, config: network.config, logger: silentLogger, requireKey: true });
  }, 60_000);
  afterAll(async () => {
    for (const close of closers) await close();
    await api?.close();
    await network?.stop();
  });

  it('signs each delivery (HMAC-SHA256 over timestamp.body), and the receiver verifies it with the secret dan webhooks add printed', async () => {
    const hook = await receiver(() => 204);
    closers.push(hook.close);
    const added = await dan('add', hook.url, '--events', 'task.completed', '--json');
    expect(added.code, added.stderr).toBe(0);
    const { id, secret } = JSON.parse(added.stdout) as { id: string; secret: string };
    const { taskId } = await submitTask(network.redis, network.keys, { domain: 'backend', description: 'ping', type: 'echo' });
    expect((await network.waitFor(taskId))['status']).toBe('completed');
    const delivery = await until('the completed event', async () => hook.got.find((r) => r.body.includes(taskId)), 30_000);
    const body = JSON.parse(delivery.body) as Record<string, unknown>;
    expect(body).toMatchObject({ event: 'task.completed', task_id: taskId, status: 'completed', domain: 'backend' });
    expect(delivery.body).not.toContain(secret);
    // What a receiver does, by hand: HMAC-SHA256 of "<timestamp>.<raw body>" with the secret.
    const timestamp = String(delivery.headers['x-dan-timestamp']);
    const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${delivery.body}`).digest('hex')}`;
    expect(delivery.headers['x-dan-signature']).toBe(expected);
    expect(verifyWebhookSignature(secret, delivery.body, { signature: expected, timestamp })).toBe(true);
    expect(verifyWebhookSignature('dan-whsec-wrong', delivery.body, { signature: expected, timestamp })).toBe(false);
    const log = await until('the delivery log', async () => {
      const out = await dan('log', id, '--json');
      const entries = JSON.parse(out.stdout) as { status: string; task_id: string }[];
      return entries.some((e) => e.task_id === taskId && e.status === 'delivered') && entries;
    }, 30_000);
    expect(log[0]).toMatchObject({ status: 'delivered', attempts: 1, http_status: 204 });
    const listed = await dan('list', '--json');
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).not.toContain(secret);
    expect((await dan('remove', id)).code).toBe(0);
  }, 90_000);

  it('retries a delivery the receiver answered 500 with backoff, and logs each attempt', async () => {
    const hook = await receiver((n) => (n <= 2 ? 500 : 200));
    closers.push(hook.close);
    const added = await store().add({ url: hook.url, events: ['task.failed'] });
    // A failed task: cancelled while it awaits approval.
    const failed = (await submitTask(network.redis, network.keys, { domain: 'backend', description: 'ping', type: 'echo', extraMetadata: { approval: true } })).taskId;
    await until('the task to wait', async () => (await network.redis.hget(network.keys.result(failed), 'status')) === 'awaiting_approval', 30_000);
    const cancelled = await runProcess(process.execPath, [CLI, 'cancel', failed], { env: cliEnv(network) });
    expect(cancelled.code, cancelled.stderr).toBe(0);
    const entries = await until('a delivery after two 500s', async () => {
      const log = await store().log(added.id);
      return log.some((e) => e.status === 'delivered') && log;
    }, 60_000);
    expect(entries.map((e) => [e.status, e.attempts, e.http_status])).toEqual([['delivered', 3, 200], ['retrying', 2, 500], ['retrying', 1, 500]]);
    expect(entries[1]!.last_error).toContain('HTTP 500');
    expect(hook.got.filter((r) => r.body.includes(failed))).toHaveLength(3);
    expect(JSON.parse(hook.got[2]!.body)).toMatchObject({ event: 'task.failed', task_id: failed, error: 'cancelled' });
  }, 90_000);

  it('a receiver that never answers holds up neither the tasks nor the other webhooks', async () => {
    const stuck = await receiver(() => 'hang');
    const fine = await receiver(() => 200);
    closers.push(stuck.close, fine.close);
    const hung = await store().add({ url: stuck.url, events: ['task.completed'] });
    await store().add({ url: fine.url, events: ['task.completed'] });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await submitTask(network.redis, network.keys, { domain: 'frontend', description: `ping ${i}`, type: 'echo' })).taskId);
    for (const id of ids) expect((await network.waitFor(id))['status']).toBe('completed');
    await until('every completion at the answering receiver', async () => ids.every((id) => fine.got.some((r) => r.body.includes(id))), 60_000);
    // The stuck one got its first attempts and answered none: none delivered, none given up.
    expect(stuck.got.length).toBeGreaterThan(0);
    expect(stuck.got.length).toBeLessThanOrEqual(2);
    expect(await store().log(hung.id)).toEqual([]);
  }, 90_000);

  it('refuses URLs that are not http(s), and only admin keys manage webhooks over the API', async () => {
    const refused = await dan('add', 'ftp://example.com/hook');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('must be http:// or https://');
    const admin = await createTestKey(network.redis, network.keys, 'acme', 'admin');
    const submitter = await createTestKey(network.redis, network.keys, 'acme', 'submit');
    expect((await api.inject({ method: 'POST', url: '/webhooks', headers: submitter.headers, payload: { url: 'http://127.0.0.1:9/x' } })).statusCode).toBe(403);
    expect((await api.inject({ method: 'POST', url: '/webhooks', headers: admin.headers, payload: { url: 'file:///etc/passwd' } })).statusCode).toBe(400);
    const made = await api.inject({ method: 'POST', url: '/webhooks', headers: admin.headers, payload: { url: 'http://127.0.0.1:9/x', events: ['task.awaiting_approval'] } });
    expect(made.statusCode, made.body).toBe(201);
    const created = made.json() as { id: string; secret: string; client: string };
    expect(created).toMatchObject({ client: 'acme', secret: expect.stringMatching(/^dan-whsec-/) });
    const listed = await api.inject({ method: 'GET', url: '/webhooks', headers: admin.headers });
    expect(listed.json()).toEqual([expect.objectContaining({ id: created.id, events: ['task.awaiting_approval'] })]);
    expect(listed.body).not.toContain(created.secret);
    expect((await api.inject({ method: 'GET', url: `/webhooks/${created.id}/log`, headers: admin.headers })).json()).toEqual([]);
    expect((await api.inject({ method: 'DELETE', url: `/webhooks/${created.id}`, headers: admin.headers })).statusCode).toBe(204);
    expect((await api.inject({ method: 'DELETE', url: `/webhooks/${created.id}`, headers: admin.headers })).statusCode).toBe(404);
  }, 60_000);
});
