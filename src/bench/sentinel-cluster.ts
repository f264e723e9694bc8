import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { aclFileText, generatePasswords, urlForRole, type RedisPasswords } from '../../lib/redis/acl.js';
import { connectRedis, type Redis } from '../../lib/redis/connection.js';
import { freePort } from '../cli/local-redis.js';
import { poll } from './bench-kit.js';

export const SENTINEL_MASTER_NAME = 'mymaster';
/** How long a node is silent before a Sentinel counts it down. */
export const SENTINEL_DOWN_AFTER_MS = 1_000;
/** A Sentinel that took part in a failover waits twice this long before it starts another of the same master. */
export const SENTINEL_FAILOVER_TIMEOUT_MS = 5_000;

export interface SentinelRedis {
  /** The Sentinel URL of the `main` and `agent` users (lib/redis/acl.ts), with the Sentinels' password. */
  mainUrl: string;
  agentUrl: string;
  passwords: RedisPasswords;
  /** The port of the master the Sentinels name now. */
  masterPort(): Promise<number>;
  /** SIGKILLs the master's process (a crash: nothing flushed, no goodbye to the replicas); its port. */
  killMaster(): Promise<number>;
  /** The ports of the replicas in sync with the master the Sentinels name now. */
  onlineReplicas(): Promise<number[]>;
  /** The process id of the data node on `port` (to pause it with SIGSTOP). */
  pid(port: number): number;
  /**
   * Starts the data node on `port` again (one `killMaster` stopped) as a replica of the master now,
   * and waits until it is in sync and the Sentinels count it again: the cluster can fail over once more.
   */
  restart(port: number): Promise<void>;
  /** An admin connection straight to the data node on `port` (one per port, closed by `stop`). */
  admin(port: number): Promise<Redis>;
  stop(): Promise<void>;
}

/** Polls `check` every 200 ms until it is true; throws after `timeoutMs` naming `what`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  await poll(what, async () => ((await check().catch(() => false)) ? true : undefined), timeoutMs, 200);
}

/**
 * A real Redis that fails over (the bench's sentinel scenario and tests/integration/redis-sentinel.test.ts): one master, `replicas` replicas and three Sentinels (quorum 2, a
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
  const admins = new Map<number, Promise<Redis>>();
  const stopAll = async () => {
    for (const client of admins.values()) void client.then((c) => c.disconnect(), () => undefined);
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
    const connect = (port: number, password: string) => connectRedis(`redis://:${password}@127.0.0.1:${port}`, { name: 'sentinel-cluster' });
    const admin = (port: number) => {
      const known = admins.get(port);
      if (known) return known;
      const client = connect(port, passwords.admin);
      admins.set(port, client);
      // A node not up yet: the next call connects again.
      client.catch(() => admins.delete(port));
      return client;
    };
    const onlineIn = async (port: number) =>
      [...(await (await admin(port)).info('replication')).matchAll(/^slave\d+:ip=[^,]+,port=(\d+),state=online/gm)].map((m) => Number(m[1]));
    await until('the master to answer', async () => (await (await admin(masterPort)).ping()) === 'PONG', 20_000);
    await until(`${replicas} replicas to be in sync`, async () => (await onlineIn(masterPort)).length === replicas, 30_000);
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
        `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${SENTINEL_DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${SENTINEL_MASTER_NAME} ${SENTINEL_FAILOVER_TIMEOUT_MS}`,
      ].join('\n') + '\n', { mode: 0o600 });
      start(port, 'redis-sentinel', [conf]);
    }
    const sentinels = await Promise.all(sentinelPorts.map(async (port) => {
      const client = await poll('a Sentinel to answer', () => connect(port, sentinelPassword).catch(() => undefined), 20_000, 200);
      admins.set(port, Promise.resolve(client));
      return client;
    }));
    const sentinel = sentinels[0]!;
    await until('the Sentinels to know each other and the replicas', async () => {
      const [peers, known] = await Promise.all([
        sentinel.call('SENTINEL', 'SENTINELS', SENTINEL_MASTER_NAME) as Promise<unknown[]>,
        sentinel.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER_NAME) as Promise<unknown[]>,
      ]);
      return peers.length === sentinelPorts.length - 1 && known.length === replicaPorts.length;
    }, 30_000);
    const base = `redis+sentinel://${sentinelPorts.map((port) => `127.0.0.1:${port}`).join(',')}/${SENTINEL_MASTER_NAME}?sentinel_password=${sentinelPassword}`;
    const masterPortOf = async (client: Redis) => Number(((await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER_NAME)) as string[])[1]);
    const masterPortNow = () => masterPortOf(sentinel);
    /** The master every Sentinel names, once they agree and it serves as one; undefined before. */
    const agreedMaster = async () => {
      const ports = new Set(await Promise.all(sentinels.map(masterPortOf)));
      const [port] = [...ports];
      if (ports.size !== 1 || port === undefined) return undefined;
      return /^role:master/m.test(await (await admin(port)).info('replication')) ? port : undefined;
    };
    /** The Sentinel's flags of each replica it knows, by port. */
    const replicaFlags = async () => new Map(((await sentinel.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER_NAME)) as string[][]).map((fields) => {
      const field = (name: string) => fields[fields.indexOf(name) + 1] ?? '';
      return [Number(field('port')), field('flags')];
    }));
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
      onlineReplicas: async () => onlineIn(await masterPortNow()),
      pid(port) {
        const pid = processes.get(port)?.pid;
        if (pid === undefined) throw new Error(`no process of this cluster listens on ${port}`);
        return pid;
      },
      async restart(port) {
        // Clients may follow the new master before every Sentinel names it.
        const master = await poll('the Sentinels to agree on a new master', async () => {
          const agreed = await agreedMaster().catch(() => undefined);
          return agreed !== port ? agreed : undefined;
        }, 60_000, 200);
        // The old connection points at a process that is gone: a new one once the node is back.
        void admins.get(port)?.then((c) => c.disconnect(), () => undefined);
        admins.delete(port);
        start(port, 'redis-server', [path.join(dir, `redis-${port}.conf`), '--replicaof', '127.0.0.1', String(master)]);
        // The Sentinels may move the master once more meanwhile: follow the one they agree on now.
        await until(`every replica, the restarted node ${port} too, to be in sync`, async () => {
          const now = await agreedMaster();
          return now !== undefined && (await onlineIn(now)).length === replicas;
        }, 30_000).catch(async (error: Error) => {
          const [own, masters] = await Promise.all([port, master].map(async (p) => (await admin(p)).info('replication').catch((e: Error) => e.message)));
          throw new Error(`${error.message}: its replication: ${own?.replace(/\r?\n/g, ' ')}; the master's (${master}): ${masters?.replace(/\r?\n/g, ' ')}`);
        });
        await until(`the Sentinels to count ${port} as a replica again`, async () => {
          const flags = (await replicaFlags()).get(port);
          return flags !== undefined && !/s_down|disconnected/.test(flags);
        }, 30_000);
      },
      admin,
      stop: stopAll,
    };
  }
}
