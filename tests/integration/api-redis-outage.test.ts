import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { buildApiServer } from '../../src/api/api-server.js';
import { freePort } from '../../src/cli/local-redis.js';
import { until } from '../support/until.js';

const portOpen = (port: number) => new Promise<boolean>((resolve) => {
  const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
  socket.once('error', () => resolve(false));
});

/** A Redis of its own, stopped under the API: requests answer 503 at once, /health still 200. */
describe('the HTTP API while Redis is away', () => {
  const stops: Array<() => unknown> = [];
  afterAll(async () => { for (const stop of stops.reverse()) await stop(); });

  it('answers 503 redis_unreachable with Retry-After, and /health 200', async () => {
    const port = await freePort();
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    stops.push(() => server.kill('SIGKILL'));
    await until(`redis-server on ${port}`, () => portOpen(port), 15_000);
    const config = loadConfig({}, { REDIS_URL: `redis://127.0.0.1:${port}` });
    const redis = await connectRedis(config.redisUrl, { name: 'api-outage-test' });
    stops.push(() => redis.disconnect());
    const app = await buildApiServer({ redis, keys: new Keys(''), config, logger: silentLogger });
    stops.push(() => app.close());
    expect((await app.inject({ method: 'GET', url: '/agents' })).statusCode).toBe(200);

    server.kill('SIGKILL');
    await until('the connection to notice', async () => redis.status !== 'ready', 15_000);
    const reply = await app.inject({ method: 'POST', url: '/jobs', headers: { 'content-type': 'application/json' }, payload: '{"job_type":"echo","payload":{}}' });
    expect(reply.statusCode).toBe(503);
    expect(reply.headers['retry-after']).toBe('5');
    expect(reply.json()).toEqual({ error: { code: 'redis_unreachable', message: expect.stringContaining(`127.0.0.1:${port}`) } });
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });
});
