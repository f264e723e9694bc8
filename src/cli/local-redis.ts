import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sleep } from '../../lib/clock.js';
import { DanError, RedisUnreachableError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { aclFileText, generatePasswords, urlForRole, type RedisPasswords } from '../../lib/redis/acl.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { isSentinelUrl } from '../../lib/redis/redis-url.js';
import { REDIS_AUTH_FILE, removeRedisAuth, writeRedisAuth } from './redis-auth-file.js';

export interface LocalRedis {
  url: string;
  /**
   * The URL the domain agents get, when it is not `url`: on a private server `url` is the main
   * orchestrator's user and this the restricted `agent` user (lib/redis/acl.ts).
   */
  agentUrl?: string;
  /** True when this process started the server (and stops it on `stop`). */
  started: boolean;
  /** The server's process id, when this process started it. */
  pid?: number;
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
 * `aclFile` loads users and passwords from that file (never from the command line, which `ps`
 * shows every local user); `probeUrl` is then a URL with credentials to check it answers.
 */
export async function startRedisServer(port: number, logger: Logger, dataDir?: string, auth?: { aclFile: string; probeUrl: string }): Promise<LocalRedis> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--maxmemory-policy', 'noeviction'];
  if (auth) args.push('--aclfile', path.resolve(auth.aclFile));
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    args.push('--dir', dataDir, '--appendonly', 'yes');
  } else {
    args.push('--appendonly', 'no');
  }
  // umask 077: the append-only files hold every task's text, and redis-server creates them with
  // 0644 under the usual umask; through `exec` the child is still redis-server itself.
  const child: ChildProcess = spawn('sh', ['-c', 'umask 077 && exec redis-server "$@"', 'redis-server', ...args], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  let exited = false;
  child.once('exit', () => { exited = true; });
  for (let i = 0; i < 100 && !exited; i++) {
    try {
      const probe = await connectRedis(auth?.probeUrl ?? url, { failFast: true, connectTimeoutMs: 500 });
      probe.disconnect();
      logger.info({ url, dataDir: dataDir ?? '(memory only)' }, 'started a private redis-server');
      return {
        url, started: true, ...(child.pid === undefined ? {} : { pid: child.pid }),
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
 * That one is never open: each kind of user (lib/redis/acl.ts) gets a fresh password, kept in
 * `.dan/redis-auth.json` (0600, removed on stop) for the other `dan` commands run here; the
 * URL returned is the main orchestrator's, `agentUrl` its domain agents'.
 */
export async function ensureRedis(url: string, logger: Logger, allowStart = true, keyPrefix = ''): Promise<LocalRedis> {
  try {
    const probe = await connectRedis(url, { failFast: true, connectTimeoutMs: 2_000 });
    probe.disconnect();
    return { url, started: false, stop: async () => undefined };
  } catch (error) {
    // Redis answered and refused (a password, a certificate): starting another one would not help.
    if (error instanceof DanError && error.code !== 'redis_unreachable') throw error;
    // Sentinels that do not answer are not this machine's to replace with a private Redis.
    if (isSentinelUrl(url)) throw error;
    const parsed = new URL(url);
    const local = ['localhost', '127.0.0.1', '::1', '[::1]'].includes(parsed.hostname);
    if (!allowStart || !local || parsed.password || !redisServerOnPath()) throw error instanceof RedisUnreachableError ? error : new RedisUnreachableError(url, error);
    const port = Number(parsed.port || 6379);
    logger.warn({ url }, 'nothing answers at REDIS_URL; starting a private redis-server there');
    return startPrivateRedis(port, logger, keyPrefix);
  }
}

/**
 * Starts a private `redis-server` that is never open: each kind of user gets a fresh password,
 * loaded from an ACL file in `dir` (0700). The URL returned is the main orchestrator's and
 * `agentUrl` its domain agents'; `passwords` are for
 * whoever must hand them on (the password file of `dan up`). Without `persist`, nothing is saved.
 */
export async function startLockedRedisServer(port: number, logger: Logger, options: { dir: string; persist: boolean; keyPrefix?: string }): Promise<LocalRedis & { agentUrl: string; passwords: RedisPasswords; baseUrl: string }> {
  const passwords = generatePasswords();
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  chmodSync(options.dir, 0o700);
  const aclFile = path.join(options.dir, 'users.acl');
  rmSync(aclFile, { force: true });
  writeFileSync(aclFile, aclFileText(passwords, options.keyPrefix ?? ''), { mode: 0o600 });
  const baseUrl = `redis://127.0.0.1:${port}`;
  const started = await startRedisServer(port, logger, options.persist ? options.dir : undefined, { aclFile, probeUrl: urlForRole(baseUrl, 'admin', passwords.admin) });
  return { ...started, url: urlForRole(baseUrl, 'main', passwords.main), agentUrl: urlForRole(baseUrl, 'agent', passwords.agent), passwords, baseUrl };
}

async function startPrivateRedis(port: number, logger: Logger, keyPrefix: string): Promise<LocalRedis> {
  // `.dan` holds the passwords, the append-only file and the ELF memory: its owner's only.
  mkdirSync('.dan', { recursive: true, mode: 0o700 });
  chmodSync('.dan', 0o700);
  const started = await startLockedRedisServer(port, logger, { dir: path.resolve('.dan', 'redis'), persist: true, keyPrefix });
  writeRedisAuth({ pid: started.pid ?? process.pid, url: started.baseUrl, passwords: started.passwords });
  logger.info({ file: REDIS_AUTH_FILE }, "the private redis-server requires passwords; 'dan' commands run in this folder read them from the file");
  return {
    url: started.url, agentUrl: started.agentUrl, started: true,
    stop: async () => {
      removeRedisAuth();
      await started.stop();
    },
  };
}
