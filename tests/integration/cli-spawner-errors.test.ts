import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');

const dan = (args: string[], env: Record<string, string>) => runProcess(process.execPath, [bin, ...args], {
  env: { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: uniquePrefix('cli-spawner'), ...env },
  timeoutMs: 30_000,
});

describe('dan up with the Docker spawner and no engine', () => {
  it('says so in one line, with how to use the process spawner, and exits 3', async () => {
    const run = await dan(['up', '--spawner', 'docker', '--no-start-redis'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    expect(run.code).toBe(3);
    expect(run.stderr.trim().split('\n')).toEqual([
      'dan: no Docker engine answers at unix:///nonexistent/docker.sock (ENOENT); start the engine, or run domains as local processes: DAN_SPAWNER=process (dan up --spawner process)',
    ]);
  });

  it('refuses an unknown spawner before starting anything', async () => {
    const run = await dan(['up', '--no-start-redis'], { DAN_SPAWNER: 'kubernetes' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/DAN_SPAWNER/);
  });
});
