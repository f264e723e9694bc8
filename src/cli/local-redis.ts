import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sleep } from '../../lib/clock.js';
import { DanError, RedisUnreachableError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis/connection.js';

export interface LocalRedis {
  url: string;
  /** True when this process started the server (and stops it on `stop`). */
  started: boolean;
  stop(): Promise<void>;
}

export function redisServerOnPath(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A free TCP port on 127.0.0.1, from the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

/**
 * Starts a private `redis-server` on 127.0.0.1 as a child of this process. `dataDir` turns on
 * append-only persistence there (so queued tasks survive a restart); without it nothing is saved.
 */
export async function startRedisServer(port: number, logger: Logger, dataDir?: string): Promise<LocalRedis> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--maxmemory-policy', 'noeviction'];
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    args.push('--dir', dataDir, '--appendonly', 'yes');
  } else {
    args.push('--appendonly', 'no');
  }
  const child: ChildProcess = spawn('redis-server', args, { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  let exited = false;
  child.once('exit', () => { exited = true; });
  for (let i = 0; i < 100 && !exited; i++) {
    try {
      const probe = await connectRedis(url, { failFast: true, connectTimeoutMs: 500 });
      probe.disconnect();
      logger.info({ url, dataDir: dataDir ?? '(memory only)' }, 'started a private redis-server');
      return {
        url, started: true,
        stop: async () => {
          if (exited) return;
          child.kill('SIGTERM');
          for (let j = 0; j < 50 && !exited; j++) await sleep(100);
        },
      };
    } catch {
      await sleep(100);
    }
  }
  child.kill('SIGKILL');
  throw new DanError('redis_start_failed', `redis-server did not start on port ${port}; run 'redis-server --port ${port}' by hand to see why`, { exitCode: 3 });
}

/**
 * Connects to REDIS_URL; if nothing answers there, the URL points at this machine, and
 * `redis-server` is installed, starts a private one on that port (persisting to `.dan/redis`).
 */
export async function ensureRedis(url: string, logger: Logger, allowStart = true): Promise<LocalRedis> {
  try {
    const probe = await connectRedis(url, { failFast: true, connectTimeoutMs: 2_000 });
    probe.disconnect();
    return { url, started: false, stop: async () => undefined };
  } catch (error) {
    // Redis answered and refused (a password, a certificate): starting another one would not help.
    if (error instanceof DanError && error.code !== 'redis_unreachable') throw error;
    const parsed = new URL(url);
    const local = ['localhost', '127.0.0.1', '::1', '[::1]'].includes(parsed.hostname);
    if (!allowStart || !local || parsed.password || !redisServerOnPath()) throw error instanceof RedisUnreachableError ? error : new RedisUnreachableError(url, error);
    const port = Number(parsed.port || 6379);
    logger.warn({ url }, 'nothing answers at REDIS_URL; starting a private redis-server there');
    const started = await startRedisServer(port, logger, path.resolve('.dan', 'redis'));
    return { ...started, url };
  }
}
