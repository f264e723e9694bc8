import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';

const CLI = path.join(packageRoot(), 'dist', 'bundle', 'cli.mjs');

/** `dan send --after`, `dan run` and `dan status` of a workflow: the built CLI against a real Redis. */
describe('dan send --after and dan run', () => {
  const prefix = uniquePrefix('wfcli');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix };
  const dan = (...args: string[]) => runProcess(process.execPath, [CLI, ...args], { env });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-wf-'));

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
  });
  afterAll(async () => cleanup());

  it('sends a task that waits, shows what it waits on, and refuses an unknown id with exit 2', async () => {
    const first = (await submitTask(redis, keys, { domain: 'main', description: 'first' })).taskId;
    const sent = await dan('send', 'main', 'second', '--after', first);
    expect(sent.code, sent.stderr).toBe(0);
    const id = sent.stdout.trim();
    const status = await dan('status', id);
    expect(status.stdout).toMatch(new RegExp(`task ${id}: waiting \\(main\\)`));
    expect(status.stdout).toContain(`waiting on: ${first}`);
    const unknown = await dan('send', 'main', 'third', '--after', `${first},nope`);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/cannot wait on nope: no such task/);
  });

  it('runs a workflow file and draws it; a bad file exits 2 with FILE:LINE and the fix', async () => {
    const good = path.join(dir, 'good.yaml');
    writeFileSync(good, ['name: two', 'steps:', '  a: {description: first}', '  b: {description: second, needs: a}', ''].join('\n'));
    const run = await dan('run', good);
    expect(run.code, run.stderr).toBe(0);
    const status = await dan('status', run.stdout.trim());
    expect(status.stdout).toMatch(/\(workflow\)/);
    expect(status.stdout).toContain('  a [pending]\n    b [waiting] needs a');

    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, ['name: cyc', 'steps:', '  a: {description: x, needs: b}', '  b: {description: y, needs: a}', ''].join('\n'));
    const refused = await dan('run', bad);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${bad}:3: the steps' needs form a cycle (a -> b -> a): remove one of these needs`);
  });
});
