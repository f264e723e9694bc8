import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { aclFileText, generatePasswords, urlForRole, type RedisPasswords } from '../../lib/redis/acl.js';
import { freePort } from '../../src/cli/local-redis.js';
import { until } from './until.js';

export const SENTINEL_MASTER_NAME = 'mymaster';

export interface SentinelRedis {
  /** The Sentinel URL of the `main` and `agent` users (lib/redis/acl.ts), with the Sentinels' password. */
  mainUrl: string;
  agentUrl: string;
  passwords: RedisPasswords;
  /** The port of the master the Sentinels name now. */
  masterPort(): Promise<number>;
  /** SIGKILLs the master's process (a crash: nothing flushed, no goodbye to the replicas); its port. */
  killMaster(): Promise<number>;
  /** An admin connection straight to the data node on `port`. */
  admin(port: number): Redis;
  stop(): Promise<void>;
}

/**
 * A real Redis that fails over: one master, `replicas` replicas and three Sentinels (quorum 2, a
 * node is down after 1 s of silence), all `redis-server`/`redis-sentinel` processes on free ports of
 * 127.0.0.1. The data nodes share one ACL file with the five users of `dan up`'s private Redis
 * for keys under `keyPrefix` (ACL users are not replicated, so every node needs them); replicas and Sentinels reach the data
 * nodes as the admin user, and the Sentinels have a password of their own.
 */
export async function startSentinelRedis(replicas: number, keyPrefix: string): Promise<SentinelRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-sentinel-'));
  const passwords = generatePasswords();
  const sentinelPassword = randomBytes(24).toString('hex');
  const aclFile = path.join(dir, 'users.acl');
  writeFileSync(aclFile, aclFileText(passwords, keyPrefix), { mode: 0o600 });
  const processes = new Map<number, ChildProcess>();
  const start = (port: number, command: string, args: string[]) => {
    const child = spawn(command, args, { stdio: 'ignore', cwd: dir });
    processes.set(port, child);
  };
  const admins: Redis[] = [];
  const stopAll = async () => {
    for (const client of admins) client.disconnect();
    await Promise.all([...processes.values()].map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return exited;
    }));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    return await startNodes();
  } catch (error) {
    await stopAll();
    throw error;
  }

  async function startNodes(): Promise<SentinelRedis> {
    const dataPorts: number[] = [];
    for (let i = 0; i <= replicas; i++) dataPorts.push(await freePort());
    const [masterPort = 0, ...replicaPorts] = dataPorts;
    for (const port of dataPorts) {
      const conf = path.join(dir, `redis-${port}.conf`);
      writeFileSync(conf, [
        `port ${port}`, 'bind 127.0.0.1', 'save ""', 'appendonly no', `dir ${dir}`, `aclfile ${aclFile}`,
        `masterauth ${passwords.admin}`, ...(port === masterPort ? [] : [`replicaof 127.0.0.1 ${masterPort}`]),
      ].join('\n') + '\n', { mode: 0o600 });
      start(port, 'redis-server', [conf]);
    }
    const admin = (port: number) => {
      const client = new Redis({ host: '127.0.0.1', port, password: passwords.admin, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 200 });
      client.on('error', () => undefined);
      admins.push(client);
      return client;
    };
    const master = admin(masterPort);
    await until('the master to answer', () => master.ping().then((reply) => reply === 'PONG'), 20_000);
    await until(`${replicas} replicas to be in sync`, async () => {
      const info = await master.info('replication');
      return (info.match(/^slave\d+:.*state=online/gm) ?? []).length === replicas;
    }, 30_000);
    const sentinelPorts = [await freePort(), await freePort(), await freePort()];
    for (const port of sentinelPorts) {
      const conf = path.join(dir, `sentinel-${port}.conf`);
      // Written by the Sentinel as it learns the others: a file of its own, in the temporary folder.
      writeFileSync(conf, [
        `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `requirepass ${sentinelPassword}`,
        `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
        `sentinel auth-pass ${SENTINEL_MASTER_NAME} ${passwords.admin}`,
        // The Sentinels of this group reach each other with the same password.
        `sentinel sentinel-pass ${sentinelPassword}`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 5000`,
      ].join('\n') + '\n', { mode: 0o600 });
      start(port, 'redis-sentinel', [conf]);
    }
    const sentinel = new Redis({ host: '127.0.0.1', port: sentinelPorts[0], password: sentinelPassword, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    sentinel.on('error', () => undefined);
    admins.push(sentinel);
    await until('the Sentinels to know each other and the replicas', async () => {
      const [peers, known] = await Promise.all([
        sentinel.call('SENTINEL', 'SENTINELS', SENTINEL_MASTER_NAME) as Promise<unknown[]>,
        sentinel.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER_NAME) as Promise<unknown[]>,
      ]);
      return peers.length === sentinelPorts.length - 1 && known.length === replicaPorts.length;
    }, 30_000);
    const base = `redis+sentinel://${sentinelPorts.map((port) => `127.0.0.1:${port}`).join(',')}/${SENTINEL_MASTER_NAME}?sentinel_password=${sentinelPassword}`;
    const masterPortNow = async () => Number(((await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER_NAME)) as string[])[1]);
    return {
      mainUrl: urlForRole(base, 'main', passwords.main),
      agentUrl: urlForRole(base, 'agent', passwords.agent),
      passwords,
      masterPort: masterPortNow,
      async killMaster() {
        const port = await masterPortNow();
        const child = processes.get(port);
        if (!child) throw new Error(`no process of this test listens on ${port}`);
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        return port;
      },
      admin,
      stop: stopAll,
    };
  }
}
