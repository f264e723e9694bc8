import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { Keys } from '../../lib/redis/keys.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';

const CLI = path.join(packageRoot(), 'dist', 'bundle', 'cli.mjs');

describe('dan send --priority, as seed users type it', () => {
  const prefix = uniquePrefix('prio');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  const env = () => ({ PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix });

  beforeAll(async () => { ({ redis, cleanup } = await connectTestRedis(prefix)); });
  afterAll(async () => {
    await cleanup();
    redis.disconnect();
  });

  it('takes HIGH as high, and still refuses a priority that does not exist', async () => {
    const sent = await runProcess(process.execPath, [CLI, 'send', 'backend', 'rotate the logs', '--type', 'echo', '-p', 'HIGH'], { env: env() });
    expect(sent.stderr).toBe('');
    expect(sent.code).toBe(0);
    const [raw] = await redis.lrange(keys.pending('backend'), 0, 0);
    expect(JSON.parse(raw ?? '{}')).toMatchObject({ task_id: sent.stdout.trim(), metadata: { priority: 'high' } });

    const refused = await runProcess(process.execPath, [CLI, 'send', 'backend', 'x', '-p', 'urgent'], { env: env() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Choices: "high", "normal", "low"');
  });
});
