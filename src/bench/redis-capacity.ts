import type { ChainableCommander, Redis } from 'ioredis';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Keys } from '../../lib/redis/keys.js';
import { round, submitEchoes } from './bench-kit.js';
import type { BenchEnv } from './bench-network.js';
import { connect } from './bench-network.js';

const runFile = promisify(execFile);

/**
 * Scenario 3, memory: `used_memory` before and after queueing `count` echo tasks (as `dan send`
 * does: the task JSON in `tasks:pending`, the `results` hash) to a domain nobody serves, per task.
 */
export async function bytesPerPendingTask(env: BenchEnv, count: number): Promise<number> {
  const keys = new Keys(`bench:pending:${process.pid}:`);
  const ids = Array.from({ length: count }, (_, i) => `pending-${i}`);
  const used = async () => Number(/used_memory:(\d+)/.exec(await env.redis.info('memory'))?.[1] ?? Number.NaN);
  const before = await used();
  await submitEchoes(env.redis, keys, 'nobody', ids, 2_000);
  const after = await used();
  await env.redis.unlink(keys.pending('nobody'));
  for (let start = 0; start < ids.length; start += 2_000) {
    await env.redis.unlink(...ids.slice(start, start + 2_000).map((id) => keys.result(id)));
  }
  return round((after - before) / count, 0);
}

/** One command standing in for each name a task uses; names without a cheap equivalent are a PING. */
function stand(p: ChainableCommander, name: string, client: number, n: number, sha: string): void {
  const k = `bench:ceiling:${process.pid}:${client}`;
  const item = `{"task_id":"${n}","payload":{"description":"bench echo"}}`;
  switch (name) {
    case 'hset': p.hset(`${k}:h:${n % 512}`, 'status', 'in_progress', 'n', n); break;
    case 'hget': case 'hmget': case 'hgetall': case 'hincrby': p.hgetall(`${k}:h:${n % 512}`); break;
    case 'lpush': case 'rpush': p.lpush(`${k}:l`, item); break;
    case 'rpop': case 'lpop': case 'blmove': case 'lmove': case 'lrem': p.rpop(`${k}:l`); break;
    case 'zadd': p.zadd(`${k}:z`, n, String(n % 512)); break;
    case 'zrem': case 'zrangebyscore': case 'zrange': p.zrangebyscore(`${k}:z`, '-inf', 0, 'LIMIT', 0, 16); break;
    case 'xadd': p.xadd(`${k}:s`, 'MAXLEN', '~', '10000', '*', 'task', String(n), 'line', item); break;
    case 'publish': p.publish(`${k}:c`, item); break;
    case 'expire': p.expire(`${k}:h:${n % 512}`, 3600); break;
    case 'exists': case 'get': case 'set': case 'del': case 'incr': p.set(`${k}:s:${n % 512}`, item); break;
    case 'evalsha': case 'eval': p.evalsha(sha, 0); break;
    case 'time': p.time(); break;
    default: p.ping();
  }
}

export interface CeilingResult {
  /** `redis-benchmark` (C, several clients, pipelined), or this process's own clients where it is missing. */
  tool: string;
  clients: number;
  pipeline: number;
  commands_per_s: number;
  /** Redis commands per direct task the ceiling is divided by. */
  commands_per_task: number;
  ceiling_tasks_per_s: number;
  fraction: number;
  /** Commands per second of each stand-in command (redis-benchmark only). */
  by_command?: Record<string, number>;
}

const CLIENTS = 4;
const PIPELINE = 64;

/** The stand-in a task's command is timed as, in redis-benchmark's words (`__rand_int__` spreads keys). */
function standIn(name: string, k: string): string[] {
  const item = '{"task_id":"__rand_int__","payload":{"description":"bench echo"},"metadata":{"priority":"normal"}}';
  switch (name) {
    case 'hset': case 'hincrby': return ['HSET', `${k}:h:__rand_int__`, 'status', 'in_progress', 'agent_id', 'backend-0000'];
    case 'hget': case 'hmget': case 'hgetall': return ['HGETALL', `${k}:h:__rand_int__`];
    case 'lpush': case 'rpush': return ['LPUSH', `${k}:l`, item];
    case 'rpop': case 'lpop': case 'blmove': case 'lmove': case 'lrem': return ['RPOP', `${k}:l`];
    case 'zadd': return ['ZADD', `${k}:z`, '__rand_int__', '__rand_int__'];
    case 'zrem': case 'zrange': case 'zrangebyscore': return ['ZRANGEBYSCORE', `${k}:z`, '-inf', '0', 'LIMIT', '0', '16'];
    case 'xadd': return ['XADD', `${k}:s`, 'MAXLEN', '~', '10000', '*', 'task', '__rand_int__', 'line', item];
    case 'publish': return ['PUBLISH', `${k}:c`, item];
    case 'expire': case 'pexpire': return ['EXPIRE', `${k}:h:__rand_int__`, '3600'];
    case 'get': case 'set': case 'del': case 'incr': case 'exists': return ['SET', `${k}:s:__rand_int__`, item];
    case 'evalsha': case 'eval': return ['EVAL', 'return 1', '0'];
    case 'time': return ['TIME'];
    case 'llen': case 'zcard': case 'scard': case 'smembers': return ['LLEN', `${k}:l`];
    default: return ['PING'];
  }
}

async function benchmarkRate(redisUrl: string, command: string[], requests: number): Promise<number> {
  const url = new URL(redisUrl);
  const { stdout } = await runFile('redis-benchmark', ['-h', url.hostname, '-p', url.port, '-c', String(CLIENTS), '-P', String(PIPELINE), '-r', '512', '-n', String(requests), '--csv', ...command], { timeout: 120_000 });
  // The test's name (the command) may hold commas and quotes: read the figures from the end.
  const figures = /"([\d.]+)"(?:,"[\d.]+"){6}\s*$/.exec(stdout.trim());
  return Number(figures?.[1] ?? Number.NaN);
}

/**
 * Scenario 4: how fast one Redis on this machine runs the commands a task uses. Each command of the
 * task's mix (by name, from the command counts) is timed as a stand-in with redis-benchmark (4
 * clients, pipelines of 64); the ceiling in tasks per second is one over the time the mix takes.
 * Without redis-benchmark, this process replays the mix itself (then the client is the limit).
 */
export async function measureCeiling(env: BenchEnv, mix: Record<string, number>, directTasksPerS: number, requests: number): Promise<CeilingResult> {
  const perTask = Object.values(mix).reduce((a, b) => a + b, 0);
  const k = `bench:ceiling:${process.pid}`;
  try {
    const rates = new Map<string, number>();
    let secondsPerTask = 0;
    for (const [name, calls] of Object.entries(mix)) {
      const command = standIn(name, k);
      const key = command.join(' ');
      if (!rates.has(key)) rates.set(key, await benchmarkRate(env.redisUrl, command, requests));
      secondsPerTask += calls / (rates.get(key) as number);
    }
    const ceiling = 1 / secondsPerTask;
    return {
      tool: 'redis-benchmark', clients: CLIENTS, pipeline: PIPELINE, commands_per_s: round(ceiling * perTask, 0), commands_per_task: round(perTask, 2),
      ceiling_tasks_per_s: round(ceiling, 0), fraction: round(directTasksPerS / ceiling, 3),
      by_command: Object.fromEntries([...rates].map(([command, rate]) => [command.split(' ')[0] as string, round(rate, 0)])),
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return replayCeiling(env, mix, directTasksPerS, 2);
  } finally {
    await env.redis.eval(`for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('UNLINK', k) end return 0`, 0, `${k}*`);
  }
}

/** The same mix replayed by this process's own pipelined clients, for `seconds`. */
async function replayCeiling(env: BenchEnv, mix: Record<string, number>, directTasksPerS: number, seconds: number): Promise<CeilingResult> {
  const clients = CLIENTS;
  const pipeline = 256;
  const perTask = Object.values(mix).reduce((a, b) => a + b, 0);
  // The mix as a cycle of command names, each as often as a task issues it (in hundredths).
  const cycle: string[] = [];
  for (const [name, calls] of Object.entries(mix)) for (let i = 0; i < Math.max(1, Math.round(calls * 100)); i++) cycle.push(name);
  for (let i = cycle.length - 1; i > 0; i--) {
    const j = (i * 7919) % (i + 1);
    [cycle[i], cycle[j]] = [cycle[j] as string, cycle[i] as string];
  }
  const conns: Redis[] = await Promise.all(Array.from({ length: clients }, () => connect(env)));
  try {
    const sha = (await conns[0]?.script('LOAD', 'return 1')) as string;
    const until = performance.now() + seconds * 1000;
    const started = performance.now();
    const sent = await Promise.all(conns.map(async (conn, c) => {
      let n = 0;
      while (performance.now() < until) {
        const p = conn.pipeline();
        for (let i = 0; i < pipeline; i++, n++) stand(p, cycle[n % cycle.length] as string, c, n, sha);
        await p.exec();
      }
      return n;
    }));
    const rate = sent.reduce((a, b) => a + b, 0) / ((performance.now() - started) / 1000);
    await conns[0]?.eval(`for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('UNLINK', k) end return 0`, 0, `bench:ceiling:${process.pid}:*`);
    const ceiling = rate / perTask;
    return {
      tool: 'node replay', clients, pipeline, commands_per_s: round(rate, 0), commands_per_task: round(perTask, 2),
      ceiling_tasks_per_s: round(ceiling, 0), fraction: round(directTasksPerS / ceiling, 3),
    };
  } finally {
    for (const conn of conns) conn.disconnect();
  }
}
