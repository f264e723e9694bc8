import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Keys } from '../../lib/redis/keys.js';
import { taskCostFields } from '../../lib/redis/cost-counters.js';
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
});
