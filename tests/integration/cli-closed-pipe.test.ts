import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';

const CLI = path.join(packageRoot(), 'dist', 'bundle', 'cli.mjs');

/** Runs the CLI as `dan ... | head -1` would: the reader goes away after the first chunk of output. */
function runAndCloseAfterFirstChunk(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; firstChunk: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let firstChunk = '';
    let stderr = '';
    child.stdout.once('data', (chunk: Buffer) => {
      firstChunk = chunk.toString();
      child.stdout.destroy();
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, firstChunk, stderr }));
  });
}

describe('dan with its output piped into a reader that stops early (dan logs | head -1)', () => {
  const prefix = uniquePrefix('pipe');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    // Far more than a pipe's buffer (64 KB), so the CLI is still writing when the reader has gone.
    const pipeline = redis.pipeline();
    for (let i = 0; i < 3_000; i += 1) {
      pipeline.xadd(keys.logStream(), '*', 'task', `t-${i}`, 'agent', 'backend-1', 'domain', 'backend',
        'line', `[2026-12-07T00:00:00.000Z] backend-1: step ${i} of a long task, with enough text to fill the pipe`);
    }
    await pipeline.exec();
  });
  afterAll(async () => {
    await cleanup();
    redis.disconnect();
  });

  it('stops quietly with exit 0 instead of an EPIPE stack trace', async () => {
    const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix };
    const run = await runAndCloseAfterFirstChunk(['logs', '--no-follow', '-n', '3000'], env);
    expect(run.firstChunk).toContain('backend-1');
    expect(run.stderr).not.toMatch(/EPIPE|Unhandled|at /);
    expect(run.code).toBe(0);
  });

  it('dan tasks stops quietly too', async () => {
    // 200 tasks as JSON are more than a pipe's buffer.
    for (let i = 0; i < 200; i += 1) {
      await submitTask(redis, keys, { domain: 'main', description: `task ${i} ${'with a long description '.repeat(10)}`, type: 'task_assignment', source: 'test', requirements: [], context: {}, priority: 'normal' });
    }
    const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix };
    const run = await runAndCloseAfterFirstChunk(['tasks', '--limit', '200', '--json'], env);
    expect(run.firstChunk).toContain('"tasks"');
    expect(run.stderr).not.toMatch(/EPIPE|Unhandled|at /);
    expect(run.code).toBe(0);
  });
});
