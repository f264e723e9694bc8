import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { Keys } from '../../lib/redis/keys.js';
import { cancelTask } from '../../lib/redis/cancel-task.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';

const CLI = path.join(packageRoot(), 'dist', 'bundle', 'cli.mjs');

function task(description: string, extra: Partial<SubmitInput> = {}): SubmitInput {
  return { domain: 'main', description, type: 'task_assignment', source: 'test', requirements: [], context: {}, priority: 'normal', ...extra };
}

/** `dan tasks`, the built CLI against a real Redis: the listing GET /jobs answers, in a terminal. */
describe('dan tasks', () => {
  const prefix = uniquePrefix('tasks');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix };
  const dan = (...args: string[]) => runProcess(process.execPath, [CLI, 'tasks', ...args], { env });
  const ids: string[] = [];

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    // A millisecond apart, so newest first is the order they were sent in reversed.
    const at = (i: number) => ({ now: () => Date.now() - 60_000 + i });
    for (let i = 0; i < 5; i++) ids.push((await submitTask(redis, keys, task(`fix bug number ${i}`), at(i))).taskId);
    ids.push((await submitTask(redis, keys, task('acme work', { extraMetadata: { client_id: 'acme' } }), at(5))).taskId);
    await cancelTask(redis, keys, ids[1] as string, { by: 'test', retentionMs: 60_000 });
  });
  afterAll(async () => {
    await cleanup();
    redis.disconnect();
  });

  it("lists the default client's tasks newest first, one line each", async () => {
    const run = await dan();
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(ids.slice(0, 5).reverse());
    expect(lines[3]).toMatch(/failed \(cancelled\)\s+main\s+\S+\s+fix bug number 1/);
  });

  it('filters as GET /jobs does and prints JSON with a cursor', async () => {
    const failed = JSON.parse((await dan('--status', 'FAILED', '--json')).stdout);
    expect(failed.tasks.map((t: { id: string }) => t.id)).toEqual([ids[1]]);
    expect(failed.next_cursor).toBeNull();
    const grep = JSON.parse((await dan('-q', 'NUMBER 3', '--json')).stdout);
    expect(grep.tasks.map((t: { id: string }) => t.id)).toEqual([ids[3]]);
    const acme = JSON.parse((await dan('--client', 'acme', '--json')).stdout);
    expect(acme.tasks.map((t: { id: string }) => t.id)).toEqual([ids[5]]);
    const first = JSON.parse((await dan('-n', '2', '--json')).stdout);
    expect(first.tasks).toHaveLength(2);
    const next = JSON.parse((await dan('-n', '10', '--cursor', first.next_cursor, '--json')).stdout);
    expect([...first.tasks, ...next.tasks].map((t: { id: string }) => t.id)).toEqual(ids.slice(0, 5).reverse());
    expect((await dan('--since', 'yesterday')).code).toBe(2);
    expect((await dan('--since', 'yesterday')).stderr).toContain('ISO time');
    expect((await dan('--status', 'done')).stderr).toContain('QUEUED, RUNNING');
  });

  it('says its options in --help', async () => {
    const run = await dan('--help');
    expect(run.code).toBe(0);
    for (const option of ['--status', '--domain', '--parent', '--since', '--until', '--grep', '--limit', '--json']) expect(run.stdout).toContain(option);
  });
});
