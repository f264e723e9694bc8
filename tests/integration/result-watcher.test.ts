import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { until } from '../support/until.js';

const prefix = uniquePrefix('watcher');
const keys = new Keys(prefix);
let redis: Redis;
let subscriber: Redis;
let cleanup: () => Promise<void>;
let watcher: ResultWatcher;

const subscribers = async (taskId: string) => Number(((await redis.pubsub('NUMSUB', keys.resultChannel(taskId))) as [string, number])[1]);

/** Ends a task the way the finish script does: the hash, then the message on its channel. */
async function end(taskId: string, output: Record<string, unknown>, status = 'completed'): Promise<void> {
  const text = JSON.stringify(output);
  await redis.hset(keys.result(taskId), 'task_id', taskId, 'status', status, 'output', text, 'completed_at', '2026-01-01T00:00:00.000Z');
  await redis.publish(keys.resultChannel(taskId), JSON.stringify({ status, output: text, completed_at: '2026-01-01T00:00:00.000Z' }));
}

beforeAll(async () => {
  ({ redis, cleanup } = await connectTestRedis(prefix));
  subscriber = await connectRedis(testRedisUrl(), { blocking: true });
  watcher = new ResultWatcher(redis, subscriber, keys, 60_000);
});
afterAll(async () => {
  watcher.close();
  subscriber.disconnect();
  await cleanup();
});

describe('ResultWatcher', () => {
  it('resolves with the result hash once an end message wakes it, and leaves the channel', async () => {
    await redis.hset(keys.result('w-1'), 'task_id', 'w-1', 'status', 'in_progress');
    const waiting = watcher.wait('w-1');
    await until('the watcher to subscribe', async () => (await subscribers('w-1')) === 1);
    await end('w-1', { summary: 'from the hash' });
    const result = await waiting;
    expect(result.status).toBe('completed');
    expect(result.output).toEqual({ summary: 'from the hash' });
    await until('the watcher to unsubscribe', async () => (await subscribers('w-1')) === 0);
  });

  it('is not ended by a forged end message while the hash says the task still runs', async () => {
    await redis.hset(keys.result('w-forged'), 'task_id', 'w-forged', 'status', 'in_progress');
    const waiting = watcher.wait('w-forged');
    await until('the watcher to subscribe', async () => (await subscribers('w-forged')) === 1);
    // Anyone who reaches Redis can publish this; only the hash says how the task ended.
    await redis.publish(keys.resultChannel('w-forged'), JSON.stringify({ status: 'completed', output: '{"summary":"FORGED"}', completed_at: '2026-01-01T00:00:00.000Z' }));
    await end('w-forged', { summary: 'genuine' });
    expect((await waiting).output).toEqual({ summary: 'genuine' });
  });

  it('ignores a message that is not an end and waits for the real one', async () => {
    await redis.hset(keys.result('w-2'), 'task_id', 'w-2', 'status', 'in_progress');
    const waiting = watcher.wait('w-2');
    await until('the watcher to subscribe', async () => (await subscribers('w-2')) === 1);
    await redis.publish(keys.resultChannel('w-2'), JSON.stringify({ status: 'pending' }));
    await redis.publish(keys.resultChannel('w-2'), 'not json');
    let settled = false;
    void waiting.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(settled).toBe(false);
    await end('w-2', { summary: 'done' }, 'failed');
    expect((await waiting).status).toBe('failed');
  });

  it('resolves at once for a task that ended before the wait began', async () => {
    await end('w-3', { summary: 'early' });
    expect((await watcher.wait('w-3')).output).toEqual({ summary: 'early' });
  });

  it('serves many waits started together, each with its own result', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `w-many-${i}`);
    const waits = ids.map((id) => watcher.wait(id));
    await until('every channel to be subscribed', async () => (await Promise.all(ids.map(subscribers))).every((n) => n === 1));
    await Promise.all(ids.map((id, i) => end(id, { n: i })));
    const results = await Promise.all(waits);
    expect(results.map((r) => r.output?.['n'])).toEqual(ids.map((_, i) => i));
    await until('every channel to be left', async () => (await Promise.all(ids.map(subscribers))).every((n) => n === 0));
  });

  it('catches the end of a task that ends as soon as the watch of a new task returns', async () => {
    const { result } = await watcher.watchNew('w-new');
    // What the caller does next is queue the task; here it ends at once, before any answer to the SUBSCRIBE is awaited.
    await end('w-new', { summary: 'ended at once' });
    expect((await result).output).toEqual({ summary: 'ended at once' });
    await until('the watcher to unsubscribe', async () => (await subscribers('w-new')) === 0);
  });

  it('rejects an aborted wait and leaves its channel', async () => {
    const controller = new AbortController();
    const waiting = watcher.wait('w-4', controller.signal);
    await until('the watcher to subscribe', async () => (await subscribers('w-4')) === 1);
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    await until('the watcher to unsubscribe', async () => (await subscribers('w-4')) === 0);
  });
});
