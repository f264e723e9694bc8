import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeadLetters } from '../../lib/redis/dead-letters.js';
import { Keys } from '../../lib/redis/keys.js';
import { TaskQueue } from '../../lib/redis/task-queue.js';
import { cancelTask } from '../../lib/redis/cancel-task.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

/**
 * The claim script's side of reused task ids (audit M3a, M4): a second task under an id another task
 * holds is dead-lettered with its reason; the genuine retry, a dead-letter retry and a task cancelled
 * while it waited behave as before.
 */
let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;

/** A backend queue whose retries wait a minute, so a retried task is still waiting when the test looks. */
function queue(retryBaseMs = 60_000): TaskQueue {
  return new TaskQueue(redis, keys, { domain: 'backend', agentId: 'backend-aaaaaaaa', leaseMs: 30_000, retentionMs: 3_600_000, maxAttempts: 3, retryBaseMs, retryMaxMs: retryBaseMs, housekeepingMs: 0 });
}
const raw = (id: string, description: string) => JSON.stringify({ task_id: id, payload: { description } });
const deadEntries = async () => (await redis.lrange(keys.dead('backend'), 0, -1)).map((s) => JSON.parse(s) as Record<string, unknown>);

beforeEach(async () => {
  const prefix = uniquePrefix('reuse');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => cleanup());

describe('a task id another task holds', () => {
  it('refuses a raw push under the id of a task waiting for its retry, and a dead-letter retry of it leaves that task alone', async () => {
    await submitTask(redis, keys, { taskId: 'waits-1', domain: 'backend', description: 'genuine' });
    const [claimed] = await queue().claim(1);
    expect(await queue().retry(claimed!, 'model overloaded', {})).toBe('retrying');
    const before = await redis.hgetall(keys.result('waits-1'));
    expect(before).toMatchObject({ status: 'pending', attempts: '1' });

    await redis.lpush(keys.pending('backend'), raw('waits-1', 'impostor'));
    expect(await queue().claim(1)).toEqual([]);
    const [entry] = await deadEntries();
    expect(entry).toMatchObject({ task_id: 'waits-1', raw: raw('waits-1', 'impostor'), reason: 'task id already used (status waiting for a retry): send it again with another id' });
    expect(await redis.hgetall(keys.result('waits-1'))).toEqual(before);

    const letters = new DeadLetters(redis, keys);
    const [listed] = await letters.read('backend');
    expect(await letters.retry(listed!, 'backend')).toBe('moved');
    expect(await redis.hgetall(keys.result('waits-1'))).toEqual(before);
    expect(await queue().claim(1)).toEqual([]);
    expect((await deadEntries()).map((e) => e['reason'])).toEqual(['task id already used (status waiting for a retry): send it again with another id']);
  });

  it('still runs the genuine retry once it is due', async () => {
    await submitTask(redis, keys, { taskId: 'due-1', domain: 'backend', description: 'genuine' });
    const [claimed] = await queue(0).claim(1);
    expect(await queue(0).retry(claimed!, 'model overloaded', {})).toBe('retrying');
    const [again] = await queue(0).claim(1);
    expect(again).toMatchObject({ taskId: 'due-1', attempt: 2 });
    expect(await deadEntries()).toEqual([]);
  });

  it('drops a task cancelled while it waited without a dead letter, as before', async () => {
    await submitTask(redis, keys, { taskId: 'cancelled-1', domain: 'backend', description: 'never mind' });
    expect((await cancelTask(redis, keys, 'cancelled-1', { by: 'cli', retentionMs: 3_600_000 })).kind).toBe('cancelled');
    expect(await queue().claim(1)).toEqual([]);
    expect(await deadEntries()).toEqual([]);
    expect(await redis.llen(keys.active('backend'))).toBe(0);
  });

  it('refuses submitTask for an id that has a result, writing nothing', async () => {
    await submitTask(redis, keys, { taskId: 'sent-1', domain: 'backend', description: 'first' });
    const before = await redis.hgetall(keys.result('sent-1'));
    await expect(submitTask(redis, keys, { taskId: 'sent-1', domain: 'backend', description: 'second' }))
      .rejects.toThrow('task id sent-1 is already used (status pending): choose another id');
    expect(await redis.hgetall(keys.result('sent-1'))).toEqual(before);
    expect(await redis.llen(keys.pending('backend'))).toBe(1);
  });
});
