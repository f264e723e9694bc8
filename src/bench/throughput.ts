import { sleep } from '../../lib/clock.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { RatioSpread, Spread } from './bench-kit.js';
import { commandCounts, commandsPerTask, ratioSpread, round, spread } from './bench-kit.js';
import type { BenchEnv, BenchNetwork } from './bench-network.js';
import { bullmqJobsPerSecond } from './bullmq-throughput.js';

export const CONCURRENCY = 16;

/**
 * The core network: one domain agent with 16 slots (as BullMQ's one worker). Main keeps its default
 * concurrency: a routed parent mostly waits for its sub-task, and BullMQ has no such step to match.
 */
export const coreSettings = {
  DAN_DOMAIN_CONCURRENCY: String(CONCURRENCY),
  DAN_MAX_INSTANCES_PER_DOMAIN: '1',
};

export interface CommandCost {
  total: number;
  byCommand: Record<string, number>;
}

export interface ThroughputResult {
  tasks: number;
  concurrency: number;
  rounds: number;
  /** Medians over the rounds. */
  direct_tasks_per_s: number;
  routed_tasks_per_s: number;
  bullmq_jobs_per_s: number;
  /** Median of each round's ratio (ours over BullMQ's of the same round). */
  direct_vs_bullmq: number;
  routed_vs_bullmq: number;
  /** Each ratio's median with the lowest and highest round. */
  direct_vs_bullmq_spread: RatioSpread;
  routed_vs_bullmq_spread: RatioSpread;
  /**
   * Every round's figures, in the order they ran, and which went first; `redis_us` is Redis' CPU time
   * per task or job (user and system, from `INFO cpu`) over each side's run.
   */
  runs: { bullmq: number; direct: number; routed: number; first: 'bullmq' | 'dan'; redis_us: { bullmq: number; direct: number; routed: number } }[];
  /**
   * Redis' CPU time per task or job (µs, user and system), median of the rounds: at equal load on a
   * shared machine the side that costs Redis less goes faster.
   */
  redis_us_per_task: { direct: number; routed: number; bullmq: number };
  /** Redis commands per task while saturated (of the round with the median direct rate). */
  commands_saturated: { direct: CommandCost; routed: CommandCost };
}

/** Redis' CPU time so far (user and system, ms), from `INFO cpu`. */
async function redisCpuMs(redis: BenchEnv['redis']): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000;
}

/** Sends `count` echo tasks at once and returns tasks per second from the first submit to the last end. */
async function ours(env: BenchEnv, net: BenchNetwork, domain: string, count: number, label: string): Promise<{ rate: number; cost: CommandCost; redisUs: number }> {
  const before = await commandCounts(env.redis);
  const started = performance.now();
  const cpuBefore = await redisCpuMs(env.redis);
  const ids = await net.echo(domain, count, label);
  const redisUs = ((await redisCpuMs(env.redis)) - cpuBefore) * 1000 / count;
  const last = Math.max(...ids.map((id) => net.events.finished.get(id)?.ms ?? performance.now()));
  const rate = count / ((last - started) / 1000);
  return { rate, cost: commandsPerTask(before, await commandCounts(env.redis), count), redisUs };
}

/**
 * Scenario 1: alternating rounds on the same Redis at the same concurrency, BullMQ first in one round
 * and ours first in the next, so neither side always meets a warmer or a busier machine. Each round
 * gives its own ratios (ours over that round's BullMQ); the median ratio and its min-max spread are
 * the figures, since on a shared machine one round can be twice another.
 */
export async function measureThroughput(env: BenchEnv, net: BenchNetwork, tasks: number, rounds: number): Promise<ThroughputResult> {
  await net.echo('backend', 50, 'warm-direct');
  await net.echo('main', 50, 'warm-routed');
  const runs: ThroughputResult['runs'] = [];
  const costs: { direct: CommandCost; routed: CommandCost }[] = [];
  for (let r = 0; r < rounds; r++) {
    const bullmqFirst = r % 2 === 0;
    const runBullmq = async () => {
      env.progress(`throughput round ${r + 1}/${rounds}: BullMQ, ${tasks} no-op jobs`);
      return bullmqJobsPerSecond(env.redisUrl, tasks, CONCURRENCY, `bench-${process.pid}-${r}`, () => redisCpuMs(env.redis));
    };
    const before = bullmqFirst ? await runBullmq() : undefined;
    env.progress(`throughput round ${r + 1}/${rounds}: ${tasks} echo tasks to backend`);
    const direct = await ours(env, net, 'backend', tasks, 'direct');
    env.progress(`throughput round ${r + 1}/${rounds}: ${tasks} echo tasks to main (routed)`);
    const routed = await ours(env, net, 'main', tasks, 'routed');
    const bullmq = before ?? await runBullmq();
    runs.push({
      bullmq: round(bullmq.rate), direct: round(direct.rate), routed: round(routed.rate), first: bullmqFirst ? 'bullmq' : 'dan',
      redis_us: { bullmq: round(bullmq.redisUs), direct: round(direct.redisUs), routed: round(routed.redisUs) },
    });
    costs.push({ direct: direct.cost, routed: routed.cost });
  }
  const median = (pick: (run: ThroughputResult['runs'][number]) => number) => ratioSpread(runs.map(pick)).median;
  const directRatio = ratioSpread(runs.map((x) => x.direct / x.bullmq));
  const routedRatio = ratioSpread(runs.map((x) => x.routed / x.bullmq));
  const byDirect = runs.map((x, i) => [x.direct, i] as const).sort((a, b) => a[0] - b[0]);
  const middle = byDirect[Math.floor((byDirect.length - 1) / 2)]?.[1] ?? 0;
  return {
    tasks, concurrency: CONCURRENCY, rounds,
    direct_tasks_per_s: round(median((x) => x.direct)), routed_tasks_per_s: round(median((x) => x.routed)), bullmq_jobs_per_s: round(median((x) => x.bullmq)),
    direct_vs_bullmq: directRatio.median, routed_vs_bullmq: routedRatio.median,
    direct_vs_bullmq_spread: directRatio, routed_vs_bullmq_spread: routedRatio,
    redis_us_per_task: { direct: median((x) => x.redis_us.direct), routed: median((x) => x.redis_us.routed), bullmq: median((x) => x.redis_us.bullmq) },
    runs, commands_saturated: costs[middle] ?? { direct: { total: Number.NaN, byCommand: {} }, routed: { total: Number.NaN, byCommand: {} } },
  };
}

export interface LatencyRun extends Spread {
  rate_per_s: number;
  /** Redis commands per task at this load, by name (commands run inside Lua scripts included). */
  commands: CommandCost;
}

/**
 * Scenario 2 (and the per-task command counts of scenario 3): tasks arrive on a fixed schedule at
 * `rate` per second, each sent at its time whether or not earlier ones have ended; latency is from
 * the submit call to the `task.finished` event reaching this process.
 */
export async function measureLatency(env: BenchEnv, net: BenchNetwork, domain: string, rate: number, seconds: number, label: string): Promise<LatencyRun> {
  const count = Math.max(20, Math.round(rate * seconds));
  const ids = Array.from({ length: count }, (_, i) => `${label}-${i}`);
  const sentAt: number[] = new Array<number>(count).fill(0);
  const interval = 1000 / rate;
  const submits: Promise<unknown>[] = [];
  const before = await commandCounts(env.redis);
  const start = performance.now();
  let i = 0;
  while (i < count) {
    while (i < count && start + i * interval <= performance.now()) {
      sentAt[i] = performance.now();
      submits.push(submitTask(env.redis, net.keys, { taskId: ids[i] as string, domain, description: 'bench echo', type: 'echo' }));
      i += 1;
    }
    if (i < count) await sleep(Math.max(0, start + i * interval - performance.now()));
  }
  await Promise.all(submits);
  await net.events.waitAll(ids, 120_000);
  const failed = net.events.failures(ids);
  if (failed > 0) throw new Error(`bench: ${failed} of ${count} ${label} tasks failed`);
  const after = await commandCounts(env.redis);
  const latencies = ids.map((id, k) => (net.events.finished.get(id)?.ms ?? Number.NaN) - (sentAt[k] ?? 0));
  return { ...spread(latencies), rate_per_s: round(rate), commands: commandsPerTask(before, after, count) };
}
