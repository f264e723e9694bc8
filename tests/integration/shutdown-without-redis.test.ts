import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { freePort, startRedisServer } from '../../src/cli/local-redis.js';
import { until } from '../support/until.js';
import { processGone } from '../support/run-process.js';

/**
 * Stopping always ends: `dan up` told to stop after its Redis went away exits, its agents (ELF too)
 * exit, and it says what it could not hand back or deregister.
 */

describe('dan up told to stop after its Redis went away', () => {
  it('exits, with every agent it started, naming what it could not deregister', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-no-redis-stop-'));
    const server = await startRedisServer(await freePort(), silentLogger);
    const keys = new Keys('');
    const child = spawn(process.execPath, [path.join(packageRoot(), 'dist/bundle/cli.mjs'), 'up', '--no-start-redis'], {
      cwd: dir,
      env: {
        PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', DAN_LOG_FORMAT: 'json',
        REDIS_URL: server.url, ANTHROPIC_API_KEY: '', DAN_LLM: 'local', DAN_WORKSPACE: path.join(dir, 'workspace'),
        DAN_ELF_DIR: path.join(dir, 'elf'), DAN_SHUTDOWN_GRACE_MS: '2000', DAN_SUPERVISE_INTERVAL_MS: '100',
      },
    });
    let log = '';
    child.stdout.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const redis = new Redis(server.url);
    try {
      await until('dan up to be up', async () => log.includes('network up'), 60_000);
      // The ELF memory is resident: its process runs without any task sent.
      const elfId = await until('the ELF agent to register', async () => (await redis.smembers(keys.agentsOfDomain('elf')))[0], 60_000);
      const mainId = (await redis.get(keys.agentsMain()))!;
      const ids = await redis.smembers(keys.agentsDomains());
      const pids = (await Promise.all(ids.map((id) => redis.hget(keys.agentInfo(id), 'pid')))).map(Number);
      expect(ids).toContain(elfId);
      redis.disconnect();
      await server.stop();

      child.kill('SIGTERM');
      expect(await exited, log).toBe(1);
      expect(log).toContain(`could not deregister agent ${mainId}: Redis unreachable`);
      await until('the agents dan up started to exit', async () => pids.every(processGone), 30_000);
      for (const pid of pids) expect(processGone(pid), `agent process ${pid} stopped`).toBe(true);
    } finally {
      redis.disconnect();
      child.kill('SIGKILL');
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
