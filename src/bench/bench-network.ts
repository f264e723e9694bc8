import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { sleep } from '../../lib/clock.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { FinishedEvents, poll, submitEchoes } from './bench-kit.js';

/** What every scenario shares: the private Redis, the local model server, a workspace. */
export interface BenchEnv {
  redisUrl: string;
  /** A connection of the bench's own (submitting, reading results). */
  redis: Redis;
  /** The local model server every network of the bench uses (answers at once, records requests). */
  model: LocalModelServer;
  modelUrl: string;
  workspace: string;
  quick: boolean;
  /** Where main orchestrators write a CPU profile when they stop (`--profile`). */
  profileDir?: string;
  progress(message: string): void;
}

/** A main orchestrator run as its own process (`AGENT_ROLE=main`, the container form of `dan up`). */
export interface BenchNetwork {
  keys: Keys;
  events: FinishedEvents;
  /** The main orchestrator's process id. */
  pid: number;
  /** Queues echo tasks and waits until they all ended; returns the ids. */
  echo(domain: string | ((i: number) => string), count: number, label: string): Promise<string[]>;
  /** The pid (or container id) of the one live agent of a domain. */
  domainAgent(domain: string): Promise<{ agentId: string; pid: number; containerId: string } | undefined>;
  stop(): Promise<void>;
}

const agentEntry = fileURLToPath(new URL('../agent.js', import.meta.url));
let networks = 0;

/** A key prefix of its own for the next network of this bench run. */
export function benchPrefix(name: string): string {
  return `bench:${name}:${process.pid}:${networks++}:`;
}

/**
 * Starts a main orchestrator on its own key prefix (`benchPrefix`, unless given: a Redis whose ACL
 * users are made for one prefix) with `settings` on top of the bench defaults (the local model
 * server, no ELF memory: it would learn from every benchmark task), and waits for its first
 * heartbeat. Its domains start on demand, as in production.
 */
export async function startBenchNetwork(env: BenchEnv, name: string, settings: Record<string, string> = {}, prefix = benchPrefix(name)): Promise<BenchNetwork> {
  const keys = new Keys(prefix);
  const agentId = `main-bench-${name}`;
  const profile = env.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${env.profileDir}`, `--cpu-prof-name=main-${name}.cpuprofile`] : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, agentEntry], {
    env: {
      ...process.env,
      ANTHROPIC_API_KEY: '',
      AGENT_ROLE: 'main', AGENT_ID: agentId, REDIS_URL: env.redisUrl, DAN_KEY_PREFIX: prefix,
      DAN_LLM: 'local', DAN_LLM_URL: env.modelUrl, DAN_ELF: 'off', DAN_WORKSPACE: env.workspace,
      DAN_SHUTDOWN_GRACE_MS: '2000', DAN_LOG_FORMAT: 'json',
      // The bench measures the queue, routing and checks: no tester or reviewer turns in its figures.
      DAN_ROLES: 'coder,docs',
      ...settings,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString());
    if (stderr.length > 50) stderr.shift();
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  try {
    await poll(`main orchestrator ${agentId} heartbeat`, async () => {
      if (exited) throw new Error(`bench: main orchestrator exited at start: ${stderr.join('').trim()}`);
      return (await env.redis.exists(keys.heartbeat(agentId))) === 1 ? true : undefined;
    }, 30_000, 20);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const events = await FinishedEvents.start(env.redisUrl, env.redis, keys);
  let runs = 0;
  return {
    keys, events, pid: child.pid ?? 0,
    echo: async (domain, count, label) => {
      const ids = Array.from({ length: count }, (_, i) => `${label}-${runs}-${i}`);
      runs += 1;
      await submitEchoes(env.redis, keys, domain, ids);
      await events.waitAll(ids, 120_000 + count * 20);
      const failed = events.failures(ids);
      if (failed > 0) throw new Error(`bench: ${failed} of ${count} ${label} tasks failed`);
      return ids;
    },
    domainAgent: async (domain) => {
      const ids = await env.redis.smembers(keys.agentsOfDomain(domain));
      for (const id of ids) {
        if ((await env.redis.exists(keys.heartbeat(id))) !== 1) continue;
        const info = await env.redis.hgetall(keys.agentInfo(id));
        return { agentId: id, pid: Number(info['pid'] ?? Number.NaN), containerId: info['container_id'] ?? '' };
      }
      return undefined;
    },
    stop: async () => {
      await events.close();
      if (!exited) child.kill('SIGTERM');
      const killed = await Promise.race([exit.then(() => false), sleep(30_000).then(() => true)]);
      if (killed) {
        child.kill('SIGKILL');
        await exit;
      }
    },
  };
}

/** A separate connection, for scenarios that must not share the bench's (BullMQ, the ceiling). */
export function connect(env: BenchEnv): Promise<Redis> {
  return connectRedis(env.redisUrl);
}
