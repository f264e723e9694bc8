import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Keys } from '../../lib/redis/keys.js';
import { taskCostFields } from '../../lib/redis/cost-counters.js';
import { TaskQueue } from '../../lib/redis/task-queue.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;

beforeEach(async () => {
  const prefix = uniquePrefix('cost-fields');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => {
  await cleanup();
});

const childTotal = { usd: 0.25, calls: 2, unpriced_calls: 0, input_tokens: 100, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, by_model: {}, by_worker: {} };

describe('taskCostFields', () => {
  it('gives nothing for a task without model calls, budget or sub-tasks', async () => {
    expect(await taskCostFields(redis, keys, 'plain')).toEqual({});
    expect(await taskCostFields(redis, keys, 'plain', [{ summary: 'no cost' }])).toEqual({});
  });

  it('adds the sub-tasks\' totals the same whether it reads their results or is handed their outputs', async () => {
    await redis.sadd(keys.children('parent'), 'parent-backend', 'parent-docs');
    await redis.hset(keys.result('parent-backend'), 'output', JSON.stringify({ cost_total: childTotal }));
    await redis.hset(keys.result('parent-docs'), 'output', JSON.stringify({ summary: 'no model call' }));
    const read = await taskCostFields(redis, keys, 'parent');
    const handed = await taskCostFields(redis, keys, 'parent', [{ cost_total: childTotal }, { summary: 'no model call' }]);
    expect(read).toEqual(handed);
    expect(read.cost).toBeUndefined();
    expect(read.cost_total).toMatchObject({ usd: 0.25, calls: 2, input_tokens: 100 });
  });

  it('ends a task with its cost when it has one, and without a cost field when it has none', async () => {
    const queue = new TaskQueue(redis, keys, { domain: 'backend', agentId: 'backend-1', leaseMs: 30_000, retentionMs: 3_600_000, maxAttempts: 1 });
    await submitTask(redis, keys, { taskId: 'costly', domain: 'backend', description: 'a model call' });
    await submitTask(redis, keys, { taskId: 'free', domain: 'backend', description: 'no model call' });
    const claimed = await queue.claim(2);
    expect(claimed.map((t) => t.taskId).sort()).toEqual(['costly', 'free']);
    await redis.hset(keys.costTask('costly'), 'calls', 1, 'usd_micro', 250_000, 'input_tokens', 100);
    for (const task of claimed) expect(await queue.finish(task, { status: 'completed', output: { summary: 'done' }, cost: {} })).toBe(true);
    const output = async (id: string) => JSON.parse((await redis.hget(keys.result(id), 'output')) ?? '{}') as Record<string, unknown>;
    expect((await output('costly'))['cost']).toMatchObject({ usd: 0.25, calls: 1, input_tokens: 100 });
    expect(await output('free')).toEqual({ summary: 'done' });
  });
});
