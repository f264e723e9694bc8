import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const prefix = uniquePrefix('envfile');
let redis: Redis;
let cleanup: () => Promise<void>;
let folder: string;
let taskId: string;

/** `dan` run in `folder`, with nothing of the settings in its environment but `exported`. */
const dan = (args: string[], exported: Record<string, string> = {}) =>
  runProcess(process.execPath, [bin, ...args], { cwd: folder, env: { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', ...exported } });

beforeAll(async () => {
  ({ redis, cleanup } = await connectTestRedis(prefix));
  ({ taskId } = await submitTask(redis, new Keys(prefix), { domain: 'backend', description: 'a task only this prefix holds' }));
  folder = mkdtempSync(path.join(os.tmpdir(), 'dan-envfile-'));
});

afterAll(async () => {
  await cleanup();
  rmSync(folder, { recursive: true, force: true });
});

describe('dan with a .env in its folder', () => {
  it('uses the Redis and key prefix the .env names', async () => {
    writeFileSync(path.join(folder, '.env'), `# the test network\nexport REDIS_URL=${testRedisUrl()}\nDAN_KEY_PREFIX="${prefix}"\n`);
    const run = await dan(['status', taskId, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ task_id: taskId, domain: 'backend' });
  });

  it('lets a variable exported in the shell win over the .env', async () => {
    writeFileSync(path.join(folder, '.env'), `REDIS_URL=${testRedisUrl()}\nDAN_KEY_PREFIX=${prefix}\n`);
    const run = await dan(['status', taskId, '--json'], { DAN_KEY_PREFIX: `${prefix}other:` });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`no task '${taskId}'`);
  });

  it('refuses a malformed .env, naming the file and the line', async () => {
    writeFileSync(path.join(folder, '.env'), `REDIS_URL=${testRedisUrl()}\nDAN_KEY_PREFIX ${prefix}\n`);
    const run = await dan(['status', taskId, '--json']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${path.join(folder, '.env')}:2: expected KEY=VALUE`);
  });
});
