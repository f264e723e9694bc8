import { sleep } from '../../lib/clock.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { Spread } from './bench-kit.js';
import { commandCounts, commandsPerTask, round, spread } from './bench-kit.js';
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
  direct_tasks_per_s: number;
  routed_tasks_per_s: number;
  bullmq_jobs_per_s: number;
  direct_vs_bullmq: number;
  routed_vs_bullmq: number;
  /** Every round's figures, in the order they ran. */
  runs: { bullmq: number; direct: number; routed: number }[];
  /** Redis commands per task while saturated (the best round's). */
  commands_saturated: { direct: CommandCost; routed: CommandCost };
}

/** Sends `count` echo tasks at once and returns tasks per second from the first submit to the last end. */
async function ours(env: BenchEnv, net: BenchNetwork, domain: string, count: number, label: string): Promise<{ rate: number; cost: CommandCost }> {
  const before = await commandCounts(env.redis);
  const started = performance.now();
  const ids = await net.echo(domain, count, label);
  const last = Math.max(...ids.map((id) => net.events.finished.get(id)?.ms ?? performance.now()));
  const rate = count / ((last - started) / 1000);
  return { rate, cost: commandsPerTask(before, await commandCounts(env.redis), count) };
}

/**
 * Scenario 1: alternating rounds of BullMQ, direct and routed, on the same Redis at the same
 * concurrency; the best round of each counts (the least disturbed by the rest of the machine).
 */
export async function measureThroughput(env: BenchEnv, net: BenchNetwork, tasks: number, rounds: number): Promise<ThroughputResult> {
  await net.echo('backend', 50, 'warm-direct');
  await net.echo('main', 50, 'warm-routed');
  const runs: ThroughputResult['runs'] = [];
  let best = { bullmq: 0, direct: 0, routed: 0 };
  let directCost: CommandCost = { total: Number.NaN, byCommand: {} };
  let routedCost: CommandCost = { total: Number.NaN, byCommand: {} };
  for (let r = 0; r < rounds; r++) {
    env.progress(`throughput round ${r + 1}/${rounds}: BullMQ, ${tasks} no-op jobs`);
    const bullmq = await bullmqJobsPerSecond(env.redisUrl, tasks, CONCURRENCY, `bench-${process.pid}-${r}`);
    env.progress(`throughput round ${r + 1}/${rounds}: ${tasks} echo tasks to backend`);
    const direct = await ours(env, net, 'backend', tasks, 'direct');
    env.progress(`throughput round ${r + 1}/${rounds}: ${tasks} echo tasks to main (routed)`);
    const routed = await ours(env, net, 'main', tasks, 'routed');
    runs.push({ bullmq: round(bullmq), direct: round(direct.rate), routed: round(routed.rate) });
    if (direct.rate > best.direct) directCost = direct.cost;
    if (routed.rate > best.routed) routedCost = routed.cost;
    best = { bullmq: Math.max(best.bullmq, bullmq), direct: Math.max(best.direct, direct.rate), routed: Math.max(best.routed, routed.rate) };
  }
  return {
    tasks, concurrency: CONCURRENCY, rounds,
    direct_tasks_per_s: round(best.direct), routed_tasks_per_s: round(best.routed), bullmq_jobs_per_s: round(best.bullmq),
    direct_vs_bullmq: round(best.direct / best.bullmq, 2), routed_vs_bullmq: round(best.routed / best.bullmq, 2),
    runs, commands_saturated: { direct: directCost, routed: routedCost },
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
