import { execFileSync } from 'node:child_process';
import { sleep } from '../../lib/clock.js';
import { connectRedis, type Redis } from '../../lib/redis/connection.js';
import type { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { percentile, poll, round, spread, type Spread } from './bench-kit.js';
import type { BenchEnv } from './bench-network.js';
import { benchPrefix, startBenchNetwork } from './bench-network.js';
import { SENTINEL_DOWN_AFTER_MS, SENTINEL_FAILOVER_TIMEOUT_MS, startSentinelRedis, type SentinelRedis } from './sentinel-cluster.js';

/** Acknowledged submits of one kind of failover, through a connection without and with the wait. */
export interface FailoverLosses {
  failovers: number;
  /** Submits the client saw succeed before the master was killed. */
  acknowledged_before_kill: number;
  /** Of those, how many the promoted master has no record of. */
  lost: number;
}

export interface SubmitCost {
  /** One submit at a time: the median round trip. */
  median_ms: number;
  /** `concurrency` submits in flight. */
  per_s: number;
}

export type SentinelResult = { skipped: string } | {
  replicas: number;
  sentinels: number;
  down_after_ms: number;
  /** From the master's SIGKILL to the first task completed on the promoted replica, every failover. */
  kill_to_next_completed_ms: Spread;
  /** The master killed while its replicas keep up. */
  crash: { no_wait: FailoverLosses; wait_1: FailoverLosses };
  /** The replicas SIGSTOPped 300 ms before the kill (resumed right after it): the master ran ahead of them. */
  replicas_paused: { no_wait: FailoverLosses; wait_1: FailoverLosses };
  /** Submits refused by the waiting connection (no replica confirmed in time, or the failover): not acknowledged. */
  wait_1_refused: number;
  concurrency: number;
  submit_no_wait: SubmitCost;
  submit_wait_1: SubmitCost;
};

const WAIT = { replicas: 1, timeoutMs: 2_000 };

/** Why the scenario cannot run here, or undefined when redis-server and redis-sentinel are on the PATH. */
function missingBinaries(): string | undefined {
  const missing = ['redis-server', 'redis-sentinel'].filter((name) => {
    try {
      execFileSync(name, ['--version'], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  return missing.length > 0 ? `${missing.join(' and ')} not found (Debian: apt-get install redis-server redis-sentinel)` : undefined;
}

/** Submits echo tasks from `loops` clients until stopped; notes which the client saw acknowledged, and when. */
class Flow {
  readonly acknowledged: { id: string; at: number }[] = [];
  refused = 0;
  /** The last refusal's message, for the report of a round that stalls. */
  lastError = '';
  private running = true;
  private readonly done: Promise<void[]>;

  constructor(redis: Redis, keys: Keys, label: string, loops: number) {
    this.done = Promise.all(Array.from({ length: loops }, async (_, loop) => {
      for (let i = 0; this.running; i++) {
        const taskId = `${label}-${loop}-${i}`;
        try {
          await submitTask(redis, keys, { taskId, domain: 'backend', type: 'echo', description: 'sentinel bench echo' });
          this.acknowledged.push({ id: taskId, at: Date.now() });
        } catch (error) {
          this.refused += 1;
          this.lastError = (error as Error).message;
        }
        await sleep(25);
      }
    }));
  }

  ackedBefore(ms: number): string[] {
    return this.acknowledged.filter((a) => a.at < ms).map((a) => a.id);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/** `completed_at` (ms) of each task, `lost` when the serving master has no record, undefined while open. */
async function ends(redis: Redis, keys: Keys, ids: readonly string[]): Promise<(number | 'lost' | undefined)[]> {
  const hashes = await Promise.all(ids.map((id) => redis.hmget(keys.result(id), 'task_id', 'status', 'completed_at')));
  return hashes.map(([taskId, status, completedAt]) => {
    if (!taskId) return 'lost';
    return status === 'completed' || status === 'failed' ? Date.parse(completedAt ?? '') : undefined;
  });
}

/** `poll`, where a failed read (a connection dropped by the failover) counts as not yet. */
function pollThrough<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs: number): Promise<T> {
  return poll(what, () => check().catch(() => undefined), timeoutMs, everyMs);
}

async function submitCost(redis: Redis, keys: Keys, label: string, sequential: number, total: number, concurrency: number): Promise<SubmitCost> {
  const times: number[] = [];
  for (let i = 0; i < sequential; i++) {
    const began = performance.now();
    await submitTask(redis, keys, { taskId: `${label}-seq-${i}`, domain: 'backend', type: 'echo', description: 'sentinel bench echo' });
    times.push(performance.now() - began);
  }
  let next = 0;
  const began = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      await submitTask(redis, keys, { taskId: `${label}-par-${i}`, domain: 'backend', type: 'echo', description: 'sentinel bench echo' });
    }
  }));
  const seconds = (performance.now() - began) / 1000;
  return { median_ms: round(percentile(times.sort((a, b) => a - b), 50), 2), per_s: round(total / seconds, 0) };
}

/**
 * The sentinel scenario: a master, two replicas and three Sentinels (sentinel-cluster.ts), a network
 * connected through its `redis+sentinel://` URL, echo tasks flowing from clients without and with
 * a replica wait (DAN_REDIS_WAIT_REPLICAS=1), and the master SIGKILLed `perKind` times as it is and
 * `perKind` times with its replicas paused just before. Each killed node comes back as a replica
 * before the next round. Counts the acknowledged submits the promoted master does not know.
 */
export async function measureSentinel(env: BenchEnv, perKind: number, costSubmits: number): Promise<SentinelResult> {
  const missing = missingBinaries();
  if (missing) return { skipped: missing };
  const prefix = benchPrefix('sentinel');
  const cluster: SentinelRedis = await startSentinelRedis(2, prefix);
  const connections: Redis[] = [];
  try {
    const plain = await connectRedis(cluster.mainUrl, { name: 'bench-sentinel' });
    connections.push(plain);
    const waiting = await connectRedis(cluster.mainUrl, { name: 'bench-sentinel-wait', waitReplicas: WAIT });
    connections.push(waiting);
    const net = await startBenchNetwork({ ...env, redisUrl: cluster.mainUrl, redis: plain }, 'sentinel', {}, prefix);
    try {
      const concurrency = 16;
      env.progress(`sentinel: submit cost, ${costSubmits} submits without and with the wait`);
      const submit_no_wait = await submitCost(plain, net.keys, 'cost-plain', Math.ceil(costSubmits / 4), costSubmits, concurrency);
      const submit_wait_1 = await submitCost(waiting, net.keys, 'cost-wait', Math.ceil(costSubmits / 4), costSubmits, concurrency);
      const recoveries: number[] = [];
      const zero = (): FailoverLosses => ({ failovers: 0, acknowledged_before_kill: 0, lost: 0 });
      const crash = { no_wait: zero(), wait_1: zero() };
      const paused = { no_wait: zero(), wait_1: zero() };
      let refused = 0;
      let lastKill = 0;
      for (let round_ = 0; round_ < perKind * 2; round_++) {
        const pause = round_ % 2 === 1;
        const kind = pause ? paused : crash;
        env.progress(`sentinel: failover ${round_ + 1} of ${perKind * 2}${pause ? ', replicas paused' : ''}`);
        const flows = { no_wait: new Flow(plain, net.keys, `f${round_}-plain`, 4), wait_1: new Flow(waiting, net.keys, `f${round_}-wait`, 4) };
        const all = () => [...flows.no_wait.acknowledged, ...flows.wait_1.acknowledged].map((a) => a.id);
        await pollThrough('tasks to complete before the kill', async () => {
          const done = (await ends(plain, net.keys, all())).filter((e) => typeof e === 'number').length;
          return done >= 10 && flows.wait_1.acknowledged.length >= 5 ? true : undefined;
        }, 60_000, 100);
        // A Sentinel that voted in the last failover sits out the next for twice the failover timeout.
        await sleep(lastKill + 2 * SENTINEL_FAILOVER_TIMEOUT_MS + SENTINEL_DOWN_AFTER_MS - Date.now());
        const pids = pause ? (await cluster.onlineReplicas()).map((port) => cluster.pid(port)) : [];
        for (const pid of pids) process.kill(pid, 'SIGSTOP');
        if (pause) await sleep(300);
        const killedPort = await cluster.killMaster();
        // After its exit: a task completed between the Sentinels' answer and the signal is not one of the new master's.
        const killedAt = Date.now();
        lastKill = killedAt;
        for (const pid of pids) process.kill(pid, 'SIGCONT');
        const before = { no_wait: flows.no_wait.ackedBefore(killedAt), wait_1: flows.wait_1.ackedBefore(killedAt) };
        const next = await pollThrough('a task to complete after the kill', async () => {
          const after = (await ends(plain, net.keys, all())).filter((e): e is number => typeof e === 'number' && e > killedAt);
          return after.length > 0 ? Math.min(...after) : undefined;
        }, 120_000, 20).catch(async (error: Error) => {
          // Say where it stands: the master named now, and what became of the submits acknowledged since the kill.
          const since = [...flows.no_wait.acknowledged, ...flows.wait_1.acknowledged].filter((a) => a.at >= killedAt).map((a) => a.id);
          const statuses = await Promise.all(since.slice(0, 200).map((id) => plain.hget(net.keys.result(id), 'status').catch((e: Error) => e.message)));
          const counts = new Map<string, number>();
          for (const status of statuses) counts.set(status ?? 'missing', (counts.get(status ?? 'missing') ?? 0) + 1);
          const refusals = `refused: ${flows.no_wait.refused} without the wait (last: ${flows.no_wait.lastError || 'none'}), ${flows.wait_1.refused} with it (last: ${flows.wait_1.lastError || 'none'})`;
          throw new Error(`${error.message} (master now on port ${await cluster.masterPort().catch(() => '?')}, ${killedPort} killed; ${since.length} submits acknowledged since, by status: ${JSON.stringify(Object.fromEntries(counts))}; client connection ${plain.status}; ${refusals})`);
        });
        recoveries.push(next - killedAt);
        await poll('five submits acknowledged after the kill', async () => (flows.no_wait.acknowledged.length - before.no_wait.length >= 5 ? true : undefined), 60_000, 100);
        await flows.no_wait.stop();
        await flows.wait_1.stop();
        refused += flows.wait_1.refused;
        await pollThrough('every acknowledged task to end or be missing', async () =>
          ((await ends(plain, net.keys, all())).every((e) => e !== undefined) ? true : undefined), 180_000, 200);
        for (const mode of ['no_wait', 'wait_1'] as const) {
          const ids = before[mode];
          kind[mode].failovers += 1;
          kind[mode].acknowledged_before_kill += ids.length;
          kind[mode].lost += await pollThrough('the lost submits to be counted', async () => (await ends(plain, net.keys, ids)).filter((e) => e === 'lost').length, 60_000, 200);
        }
        await cluster.restart(killedPort);
      }
      return {
        replicas: 2, sentinels: 3, down_after_ms: SENTINEL_DOWN_AFTER_MS,
        kill_to_next_completed_ms: spread(recoveries),
        crash, replicas_paused: paused, wait_1_refused: refused,
        concurrency, submit_no_wait, submit_wait_1,
      };
    } finally {
      await net.stop();
    }
  } finally {
    for (const connection of connections) connection.disconnect();
    await cluster.stop();
  }
}
