import { afterAll, describe, expect, it } from 'vitest';
import { Keys } from '../../lib/redis/keys.js';
import { recordCallCost } from '../../lib/redis/budgets.js';
import { readTaskCost } from '../../lib/redis/cost-counters.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

const prefix = uniquePrefix('cost-fields');
const keys = new Keys(prefix);
const connected = connectTestRedis(prefix);
afterAll(async () => (await connected).cleanup());

describe("a task's cost hash", () => {
  it('keeps a field per model and worker up to its bound, then counts new workers as other, losing no call', async () => {
    const { redis } = await connected;
    const budgets = { taskId: 'costly', client: 'acme', day: '2026-12-07', taskLimitMicro: undefined, clientLimitMicro: undefined };
    const call = (worker: string) => recordCallCost(redis, keys, {
      budgets, reservedMicro: 0, costMicro: 10, model: 'claude-x', client: 'acme', domain: 'backend', worker, day: '2026-12-07',
      tokens: { input: 100, output: 20, cache_read_input: 5 },
    });
    // 60 workers with 5 fields each, plus the model's and the totals: well past the bound of 200 fields.
    for (let i = 0; i < 60; i++) await call(`w${i}`);
    await call('w0');
    const fields = await redis.hlen(keys.costTask('costly'));
    expect(fields).toBeLessThan(200 + 6);
    const cost = await readTaskCost(redis, keys, 'costly');
    expect(cost?.calls).toBe(61);
    expect(cost?.by_worker['w0']?.calls).toBe(2);
    expect(cost?.by_worker['other']?.calls).toBeGreaterThan(0);
    const perWorker = Object.values(cost?.by_worker ?? {}).reduce((sum, w) => sum + w.calls, 0);
    expect(perWorker).toBe(61);
    expect(cost?.by_model['claude-x']).toMatchObject({ calls: 61, input_tokens: 6100, cache_read_input_tokens: 305 });
  });
});
