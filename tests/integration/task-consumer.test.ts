import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { cancelTask } from '../../lib/redis/cancel-task.js';
import { TaskQueue } from '../../lib/redis/task-queue.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TaskHandler } from '../../lib/runtime/task-consumer.js';
import { TaskConsumer } from '../../lib/runtime/task-consumer.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;
const opened: Redis[] = [];
const consumers: TaskConsumer[] = [];

/**
 * A consumer of `backend` whose handler is `handler`. `claimsWhileFull` notes each claim that left while
 * every slot was taken: as many tasks claimed as slots, none of whose handlers had returned yet.
 */
function startConsumer(concurrency: number, handler: TaskHandler): { claimsWhileFull: number[]; subscriber: Redis } {
  const blocking = redis.duplicate();
  const subscriber = redis.duplicate();
  opened.push(blocking, subscriber);
  const queue = new TaskQueue(redis, keys, { domain: 'backend', agentId: 'backend-dddddddd', leaseMs: 30_000, retentionMs: 3_600_000, maxAttempts: 3 });
  const claimsWhileFull: number[] = [];
  let outstanding = 0;
  const claimBatch = queue.claimBatch.bind(queue);
  queue.claimBatch = (count) => {
    if (outstanding >= concurrency) claimsWhileFull.push(count);
    return claimBatch(count).then((claimed) => {
      outstanding += claimed.tasks.length;
      return claimed;
    });
  };
  const counted: TaskHandler = (ctx) => handler(ctx).finally(() => { outstanding -= 1; });
  const consumer = new TaskConsumer({
    redis, blocking, subscriber, keys, queue, agentId: 'backend-dddddddd', concurrency, leaseMs: 30_000, handler: counted,
    logger: silentLogger, pollMs: 100, retentionMs: 3_600_000,
  });
  consumers.push(consumer);
  void consumer.start();
  return { claimsWhileFull, subscriber };
}

async function send(ids: string[]): Promise<void> {
  for (const taskId of ids) await submitTask(redis, keys, { taskId, domain: 'backend', description: 'x', type: 'echo' });
}

function statuses(ids: string[]): Promise<(string | null)[]> {
  return Promise.all(ids.map((id) => redis.hget(keys.result(id), 'status')));
}

beforeEach(async () => {
  const prefix = uniquePrefix('consumer');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => {
  for (const c of consumers.splice(0)) await c.stop(100);
  for (const r of opened.splice(0)) r.disconnect();
  await cleanup();
});

describe('task consumer slots and claims', () => {
  it('claims ahead of its slots while handlers are short, never running more handlers than slots, each task once', async () => {
    let running = 0;
    let most = 0;
    const calls = new Map<string, number>();
    const ids = Array.from({ length: 200 }, (_, i) => `short-${i}`);
    await send(ids);
    const { claimsWhileFull } = startConsumer(4, async ({ task }) => {
      running += 1;
      most = Math.max(most, running);
      calls.set(task.taskId, (calls.get(task.taskId) ?? 0) + 1);
      await Promise.resolve();
      running -= 1;
      return { summary: 'done' };
    });
    await until('every short task to complete', async () => (await statuses(ids)).every((s) => s === 'completed'));
    expect(most).toBeLessThanOrEqual(4);
    expect([...calls.values()].every((n) => n === 1) && calls.size === 200).toBe(true);
    // The next claim left while all four slots were busy, a slot's worth at most.
    expect(claimsWhileFull.length).toBeGreaterThan(0);
    expect(Math.max(...claimsWhileFull)).toBeLessThanOrEqual(4);
    expect(await redis.llen(keys.active('backend'))).toBe(0);
  });

  it('claims only for free slots while handlers are long', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `long-${i}`);
    await send(ids);
    const { claimsWhileFull } = startConsumer(2, async () => {
      await new Promise((resolve) => setTimeout(resolve, 60));
      return { summary: 'done' };
    });
    await until('every long task to complete', async () => (await statuses(ids)).every((s) => s === 'completed'));
    expect(claimsWhileFull).toEqual([]);
  });

  it('a task claimed ahead and cancelled while it waits for a slot never starts', async () => {
    let letGo: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    const started: string[] = [];
    const { subscriber } = startConsumer(1, async ({ task }) => {
      started.push(task.taskId);
      if (task.taskId === 'hold') await gate;
      return { summary: 'done' };
    });
    const warm = ['warm-1', 'warm-2', 'warm-3'];
    await send(warm);
    await until('the short tasks to complete', async () => (await statuses(warm)).every((s) => s === 'completed'));
    await send(['hold', 'waits']);
    // 'hold' runs in the one slot; 'waits' was claimed ahead of it.
    await until('both tasks to be claimed', async () => (await statuses(['hold', 'waits'])).every((s) => s === 'in_progress'));
    let heard = false;
    subscriber.on('message', (_channel: string, id: string) => { if (id === 'waits') heard = true; });
    expect((await cancelTask(redis, keys, 'waits', { by: 'test', retentionMs: 3_600_000 })).kind).toBe('cancelled');
    await until('the consumer to hear of the cancellation', async () => heard);
    letGo();
    await until('the held task to complete', async () => (await statuses(['hold']))[0] === 'completed');
    await until('the cancelled task to be let go', async () => consumers[0]?.busy === 0);
    expect(started).not.toContain('waits');
    expect(await redis.hget(keys.result('waits'), 'status')).toBe('failed');
    expect(await redis.llen(keys.active('backend'))).toBe(0);
  });
});
