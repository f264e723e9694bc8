import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { recordCallCost } from '../../lib/redis/budgets.js';
import { Keys } from '../../lib/redis/keys.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';

const CLI = path.join(packageRoot(), 'dist', 'bundle', 'cli.mjs');

/** `dan send --budget-usd` and `dan cost`, as a person types them. */
describe('dan send --budget-usd and dan cost', () => {
  const prefix = uniquePrefix('cost-cli');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  const env = () => ({ PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix });
  const dan = (...args: string[]) => runProcess(process.execPath, [CLI, ...args], { env: env() });

  beforeAll(async () => { ({ redis, cleanup } = await connectTestRedis(prefix)); });
  afterAll(async () => {
    await cleanup();
    redis.disconnect();
  });

  it('queues the budget in metadata.budget_usd, and refuses zero, negative, non-numeric and absurd ones before queueing', async () => {
    const sent = await dan('send', 'backend', 'rotate the logs', '--type', 'echo', '--budget-usd', '0.75');
    expect(sent.stderr).toBe('');
    expect(sent.code).toBe(0);
    const [raw] = await redis.lrange(keys.pending('backend'), 0, 0);
    expect(JSON.parse(raw ?? '{}')).toMatchObject({ task_id: sent.stdout.trim(), metadata: { budget_usd: 0.75 } });
    for (const bad of ['0', '-3', 'lots', '1e9']) {
      const refused = await dan('send', 'backend', 'x', '--budget-usd', bad);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/--budget-usd must be/);
    }
    expect(await redis.llen(keys.pending('backend'))).toBe(1);
  });

  it('answers from the day counters, grouped as asked, with unpriced calls apart', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const call = { budgets: undefined, reservedMicro: 0, worker: 'coder', day, tokens: { input: 10, output: 5 } };
    await recordCallCost(redis, keys, { ...call, costMicro: 1_250_000, model: 'claude-opus-5-5', client: 'acme', domain: 'backend' });
    await recordCallCost(redis, keys, { ...call, costMicro: 250_000, model: 'claude-sonnet-5-5', client: 'acme', domain: 'frontend' });
    await recordCallCost(redis, keys, { ...call, costMicro: undefined, model: 'my-model', client: 'zeta', domain: 'backend' });

    const byDomain = await dan('cost', '--json');
    expect(byDomain.code).toBe(0);
    expect(JSON.parse(byDomain.stdout)).toMatchObject({
      by: 'domain', total: { usd: 1.5, calls: 3, unpriced_calls: 1 },
      lines: [{ key: 'backend', usd: 1.25, calls: 2, unpriced_calls: 1 }, { key: 'frontend', usd: 0.25, calls: 1, unpriced_calls: 0 }],
    });
    const byModel = await dan('cost', '--by', 'model', '--since', '7d');
    expect(byModel.code).toBe(0);
    expect(byModel.stdout).toMatch(/claude-opus-5-5\s+1\.250000\s+1\s+0/);
    expect(byModel.stdout).toMatch(/my-model\s+0\.000000\s+1\s+1/);
    expect(byModel.stdout).toContain('their cost is unknown');
    const bad = await dan('cost', '--since', 'yesterday-ish');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('since must be a day such as');
  });
});
