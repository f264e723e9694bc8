import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, packageRoot } from '../../lib/config.js';
import { Keys } from '../../lib/redis/keys.js';
import { queueOptions, TaskQueue } from '../../lib/redis/task-queue.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';

const CLI = path.join(packageRoot(), 'dist', 'bundle', 'cli.mjs');

/** `dan retry`, the built CLI against a real Redis: the retry POST /jobs/{id}/retry does, from a shell. */
describe('dan retry', () => {
  const prefix = uniquePrefix('retry');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix };
  const dan = (...args: string[]) => runProcess(process.execPath, [CLI, 'retry', ...args], { env });
  const queue = () => new TaskQueue(redis, keys, queueOptions(loadConfig({ ...env }), 'backend', 'backend-test'));

  /** A backend task an agent took and failed, so its input is kept with its result. */
  async function failedTask(description: string): Promise<string> {
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description, type: 'task_assignment', source: 'test', requirements: [], context: { ticket: 9 }, priority: 'normal' });
    const claimed = (await queue().claim(100)).find((t) => t.taskId === taskId);
    expect(claimed).toBeDefined();
    expect(await queue().finish(claimed!, { status: 'failed', output: { failure: { code: 'internal', retryable: false } }, error: 'the worker crashed' })).toBe(true);
    return taskId;
  }

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
  });
  afterAll(async () => {
    await cleanup();
    redis.disconnect();
  });

  it('sends a failed task again as <id>.r1 with its input, once; --json says what happened to each id', async () => {
    const id = await failedTask('Add a health endpoint');
    const first = await dan(id);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`${id}: retried as ${id}.r1 on backend`);
    const raw = (await redis.lrange(keys.pending('backend'), 0, -1)).map((r) => JSON.parse(r) as { task_id: string; payload: Record<string, unknown>; metadata: Record<string, unknown> }).find((t) => t.task_id === `${id}.r1`);
    expect(raw).toMatchObject({ payload: { description: 'Add a health endpoint', context: { ticket: 9 } }, metadata: { retry_of: id } });

    // Again: refused (exit 1), and the retry that waits is not failed either; an unknown id is exit 2.
    const again = await dan(id, `${id}.r1`, '--json');
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toEqual([
      { task_id: id, outcome: 'refused', code: 'already_retried', reason: expect.stringContaining(`${id}.r1`) },
      { task_id: `${id}.r1`, outcome: 'refused', code: 'not_failed', reason: expect.stringContaining('pending') },
    ]);
    const missing = await dan('no-such-task-0000', '--json');
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout)).toEqual([{ task_id: 'no-such-task-0000', outcome: 'not_found' }]);
    expect((await redis.lrange(keys.pending('backend'), 0, -1)).filter((r) => r.includes(`"${id}.r1"`))).toHaveLength(1);
  });

  it('--to sends it to another domain', async () => {
    const id = await failedTask('Write the release notes');
    const moved = await dan(id, '--to', 'frontend', '--json');
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout)).toEqual([{ task_id: id, outcome: 'retried', id: `${id}.r1`, domain: 'frontend', dead_letter: null }]);
    expect((await redis.lrange(keys.pending('frontend'), 0, -1)).some((r) => r.includes(`"${id}.r1"`))).toBe(true);
  });
});
