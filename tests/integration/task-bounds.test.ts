import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Keys } from '../../lib/redis/keys.js';
import { TaskQueue } from '../../lib/redis/task-queue.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

// Raw pushes from anyone who reaches Redis, as the audit made them (#27, #34): the claim script refuses
// what no consumer should parse, and the dead letter says why.
let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;

const queue = (maxTaskBytes = 1024 * 1024): TaskQueue => new TaskQueue(redis, keys, {
  domain: 'backend', agentId: 'backend-aaaaaaaa', leaseMs: 30_000, retentionMs: 3_600_000, maxAttempts: 3, housekeepingMs: 0,
  taskLimits: { maxTaskBytes, maxDescriptionBytes: 64 * 1024, maxContextBytes: 256 * 1024 },
});

async function deadLetters(): Promise<{ reason: string; raw: string; task_id?: string }[]> {
  return (await redis.lrange(keys.dead('backend'), 0, -1)).map((entry) => JSON.parse(entry) as { reason: string; raw: string });
}

beforeEach(async () => {
  const prefix = uniquePrefix('bounds');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => cleanup());

describe('the claim script and oversized or mistyped raw tasks', () => {
  it('dead-letters a 5 MB task unread, keeping its first 4 KB, and marks its result failed [audit #28]', async () => {
    const raw = JSON.stringify({ task_id: 'huge-model', payload: { description: `api endpoint ${'D'.repeat(5_000_000)}` } });
    await redis.lpush(keys.pending('backend'), raw, JSON.stringify({ task_id: 'small-1', payload: { description: 'x' } }));

    const claimed = await queue().claim(2);
    expect(claimed.map((t) => t.taskId)).toEqual([]);
    // Neither client writes its result: each waits for that write up to the grace first.
    await until('the grace for their clients to pass', async () => (await queue().claimBatch(2)).deferred === 0);
    const [dead] = await deadLetters();
    expect(dead?.reason).toBe(
      `task is ${raw.length} bytes, over the 1048576-byte limit (DAN_MAX_TASK_BYTES); its first 4096 bytes are kept here; send less, or raise DAN_MAX_TASK_BYTES`,
    );
    expect(dead?.raw).toHaveLength(4096);
    expect(await redis.hget(keys.result('huge-model'), 'status')).toBe('failed');
    expect(await redis.hget(keys.result('huge-model'), 'error')).toContain('DAN_MAX_TASK_BYTES');
  });

  it('refuses a numeric task id instead of running it under a new one, and says why where its client looks [audit #34]', async () => {
    await redis.lpush(keys.pending('backend'), '{"task_id": 12345, "type": "echo", "payload": {"description": "x"}}');
    expect(await queue().claim(1)).toEqual([]);
    await until('the grace for its client to pass', async () => (await queue().claimBatch(1)).deferred === 0);
    const [dead] = await deadLetters();
    expect(dead?.reason).toMatch(/^task_id must be a string, got a number: a task id is 1-128 characters.*; send it again with the id in quotes$/);
    // The client built results:12345 from its number: that result, and no other, says why.
    expect(await redis.keys(`${keys.prefix}results:*`)).toEqual([keys.result('12345')]);
    expect(await redis.hget(keys.result('12345'), 'status')).toBe('failed');
    expect(await redis.hget(keys.result('12345'), 'error')).toBe(`dead-lettered: ${dead?.reason}`);
  });

  it('refuses an object task id, naming the rule, and writes no result it cannot name [audit #34]', async () => {
    await redis.lpush(keys.pending('backend'), '{"task_id": {"a": 1}, "type": "echo", "payload": {"description": "x"}}');
    expect(await queue().claim(1)).toEqual([]);
    const [dead] = await deadLetters();
    expect(dead?.reason).toMatch(/^task_id must be a string, got an object: a task id is 1-128 characters/);
    expect(await redis.keys(`${keys.prefix}results:*`)).toEqual([]);
    expect(await redis.llen(keys.active('backend'))).toBe(0);
  });

  it('claims a task just under the cap', async () => {
    const raw = JSON.stringify({ task_id: 'fits-1', payload: { description: 'x'.repeat(900) } });
    await redis.lpush(keys.pending('backend'), raw);
    await redis.hset(keys.result('fits-1'), 'task_id', 'fits-1', 'status', 'pending');
    expect((await queue(raw.length).claim(1)).map((t) => t.taskId)).toEqual(['fits-1']);
  });
});
