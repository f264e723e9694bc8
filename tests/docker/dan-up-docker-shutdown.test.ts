import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { LABELS } from '../../lib/spawner/docker-spawner.js';
import { describeDocker, removeContainers, testAgentImage } from '../support/docker.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const docker = new Docker();

// Audit row 66: SIGTERM to `dan up --spawner docker` while its domain container runs. The audit saw it
// exit and stop and remove the container; this keeps it so.
describeDocker('[audit #66] SIGTERM to dan up --spawner docker', () => {
  const prefix = uniquePrefix('upd');
  const keys = new Keys(prefix);
  const networkId = `upd-${prefix.replace(/[^a-z0-9]/gi, '')}`;
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let workspace: string;

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-upd-ws-'));
    chmodSync(workspace, 0o777);
  });

  afterAll(async () => {
    await removeContainers(`${LABELS.network}=${networkId}`);
    await cleanup();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('exits 0, and the domain container it started is stopped and removed, its agent deregistered', async () => {
    const up = spawn(process.execPath, [bin, 'up', '--spawner', 'docker'], {
      cwd: workspace,
      env: {
        PATH: process.env['PATH'], HOME: process.env['HOME'], REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix,
        DAN_WORKSPACE: workspace, DAN_AGENT_IMAGE: testAgentImage(), DAN_NETWORK_ID: networkId,
        DAN_ELF: 'off', DAN_DOMAIN_IDLE_MS: '600000', DAN_SHUTDOWN_GRACE_MS: '3000', DAN_SPAWN_TIMEOUT_MS: '60000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    up.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    up.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    const subscriber = redis.duplicate();
    const watcher = new ResultWatcher(redis, subscriber, keys, 500);
    try {
      const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'say hello', type: 'echo' });
      await watcher.wait(taskId, AbortSignal.timeout(120_000));
      expect(await redis.hget(keys.result(taskId), 'status'), output).toBe('completed');
      const running = await docker.listContainers({ filters: { label: [`${LABELS.network}=${networkId}`] } });
      expect(running.length, 'the domain container runs before the SIGTERM').toBeGreaterThan(0);
      expect(await redis.smembers(keys.agentsOfDomain('backend'))).not.toEqual([]);

      up.kill('SIGTERM');
      expect(await exited, output).toBe(0);
      // Stopped and removed: not even an exited container of this network is left.
      await until('the domain containers to be removed', async () =>
        (await docker.listContainers({ all: true, filters: { label: [`${LABELS.network}=${networkId}`] } })).length === 0, 30_000);
      expect(await redis.smembers(keys.agentsOfDomain('backend'))).toEqual([]);
    } finally {
      watcher.close();
      subscriber.disconnect();
      if (up.exitCode === null) up.kill('SIGKILL');
    }
  }, 240_000);
});
