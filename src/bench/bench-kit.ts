import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { sleep } from '../../lib/clock.js';
import { connectRedis } from '../../lib/redis/connection.js';
import type { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';

/** Nearest-rank percentile of ascending values; NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

export interface Spread {
  runs: number;
  p50: number;
  p95: number;
  p99: number;
  worst: number;
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { runs: sorted.length, p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), p99: round(percentile(sorted, 99)), worst: round(sorted.at(-1) ?? Number.NaN) };
}

/** The middle of a set of figures and how far they spread: lowest and highest. */
export interface RatioSpread {
  median: number;
  min: number;
  max: number;
}

/** Median, lowest and highest of some figures, to 2 decimals (the median of an even count is the mean of the middle two). */
export function ratioSpread(values: readonly number[]): RatioSpread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid] ?? Number.NaN : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
  return { median: round(median, 2), min: round(sorted[0] ?? Number.NaN, 2), max: round(sorted.at(-1) ?? Number.NaN, 2) };
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Resident memory of one process, in MB (from /proc). */
export function rssMb(pid: number): number {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
    return round(kb / 1024);
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user and system) one process has used so far, in ms (from /proc, in clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  try {
    // Fields after the command name, which may hold spaces: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/**
 * Memory only this process holds (private clean and dirty pages, from /proc's smaps_rollup), in MB:
 * what one more such process costs the host. The rest of its resident memory is the Node binary and
 * shared libraries, which every Node process on the host shares.
 */
export function privateMb(pid: number): number {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? Number.NaN);
    return round((kb('Private_Clean') + kb('Private_Dirty')) / 1024);
  } catch {
    return Number.NaN;
  }
}

/** Resident memory of a process and all its descendants, in MB (a container's tini and node). */
export function treeRssMb(pid: number): number {
  let total = rssMb(pid);
  let children: string[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return total;
  }
  for (const child of children) total += treeRssMb(Number(child));
  return round(total);
}

/** Polls `check` every `everyMs` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`bench: ${what} did not happen within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/**
 * Queues echo tasks with the ids given, the way `dan send` does (one MULTI each), many in flight at
 * once: what a busy client does. Resolves when Redis has accepted all of them.
 */
export async function submitEchoes(redis: Redis, keys: Keys, domain: string | ((i: number) => string), ids: readonly string[], chunk = 500): Promise<void> {
  for (let start = 0; start < ids.length; start += chunk) {
    await Promise.all(ids.slice(start, start + chunk).map((taskId, i) =>
      submitTask(redis, keys, { taskId, domain: typeof domain === 'string' ? domain : domain(start + i), description: 'bench echo', type: 'echo' })));
  }
}

interface Waiter {
  remaining: Set<string>;
  resolve: () => void;
}

/**
 * Follows `dan:events` on its own connection and notes when each task's `task.finished` arrived
 * (performance.now() of this process): one blocking read serves thousands of tasks, so watching
 * costs Redis next to nothing (its XREAD calls are left out of the command counts).
 */
export class FinishedEvents {
  readonly finished = new Map<string, { ms: number; status: string }>();
  private readonly waiters = new Set<Waiter>();
  private running = true;
  private readonly loop: Promise<void>;

  private constructor(private readonly reader: Redis, private readonly redis: Redis, private readonly keys: Keys, lastId: string) {
    this.loop = this.read(lastId);
  }

  static async start(redisUrl: string, redis: Redis, keys: Keys): Promise<FinishedEvents> {
    const reader = await connectRedis(redisUrl, { blocking: true });
    const last = (await redis.xrevrange(keys.events(), '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
    return new FinishedEvents(reader, redis, keys, last);
  }

  private async read(from: string): Promise<void> {
    let lastId = from;
    while (this.running) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.reader.xread('COUNT', 5000, 'BLOCK', 500, 'STREAMS', this.keys.events(), lastId)) as typeof reply;
      } catch {
        if (!this.running) return;
        await sleep(50);
        continue;
      }
      const now = performance.now();
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        lastId = id;
        const map: Record<string, string> = {};
        for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i] as string] = fields[i + 1] as string;
        if (map['type'] === 'task.finished' && map['task_id']) this.mark(map['task_id'], now, map['status'] ?? '');
      }
    }
  }

  private mark(taskId: string, ms: number, status: string): void {
    if (this.finished.has(taskId)) return;
    this.finished.set(taskId, { ms, status });
    for (const waiter of this.waiters) {
      if (waiter.remaining.delete(taskId) && waiter.remaining.size === 0) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /**
   * Resolves once every id has finished. Should the stream have been trimmed past an event before it
   * was read, the result hashes of the missing ones are read after a quiet spell.
   */
  async waitAll(ids: readonly string[], timeoutMs: number): Promise<void> {
    const remaining = new Set(ids.filter((id) => !this.finished.has(id)));
    if (remaining.size === 0) return;
    const done = new Promise<void>((resolve) => this.waiters.add({ remaining, resolve }));
    const deadline = Date.now() + timeoutMs;
    let settled = false;
    void done.then(() => (settled = true));
    let seen = remaining.size;
    while (!settled) {
      await Promise.race([done, sleep(5_000)]);
      if (settled) break;
      if (remaining.size === seen) {
        const missing = [...remaining];
        const statuses = await Promise.all(missing.map((id) => this.redis.hget(this.keys.result(id), 'status')));
        missing.forEach((id, i) => {
          const status = statuses[i];
          if (status === 'completed' || status === 'failed') this.mark(id, performance.now(), status);
        });
      }
      seen = remaining.size;
      if (!settled && Date.now() > deadline) {
        throw new Error(`bench: ${remaining.size} of ${ids.length} tasks did not finish within ${timeoutMs} ms`);
      }
    }
  }

  /** How many of `ids` ended `failed`. */
  failures(ids: readonly string[]): number {
    return ids.filter((id) => this.finished.get(id)?.status !== 'completed').length;
  }

  async close(): Promise<void> {
    this.running = false;
    this.reader.disconnect();
    await this.loop;
  }
}

/** Redis' own command counts by name (`INFO commandstats`), for before/after differences. */
export async function commandCounts(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const counts = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(m[1] as string, Number(m[2]));
  return counts;
}

// The bench's own reads and the counting itself are not a task's cost.
const notTaskCost = new Set(['xread', 'info', 'xrevrange', 'config']);

/** Commands per task by name between two `commandCounts`, largest first, and their total. */
export function commandsPerTask(before: Map<string, number>, after: Map<string, number>, tasks: number): { total: number; byCommand: Record<string, number> } {
  const rows: [string, number][] = [];
  for (const [name, calls] of after) {
    if (notTaskCost.has(name)) continue;
    const diff = calls - (before.get(name) ?? 0);
    if (diff > 0) rows.push([name, diff / tasks]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((sum, [, n]) => sum + n, 0);
  // Names under 0.005 per task (a heartbeat, a supervisor scan) count in the total only.
  return { total: round(total, 2), byCommand: Object.fromEntries(rows.map(([name, n]) => [name, round(n, 2)]).filter(([, n]) => (n as number) > 0)) };
}
