import type { Redis } from 'ioredis';
import type { Clock } from '../../lib/clock.js';
import { systemClock } from '../../lib/clock.js';
import type { Keys } from '../../lib/redis/keys.js';
import { HISTORY_WINDOWS, TASK_DURATION_BOUNDS_MS, quantileFromBuckets, type HistoryWindow } from '../../lib/redis/metric-buckets.js';
import { readHistory } from '../../lib/redis/task-metrics.js';

/** One bucket of a domain's history: tasks that ended in it, and the 95th percentile of their run times. */
export interface HistoryPoint {
  start: string;
  completed: number;
  failed: number;
  /** Estimated from the bucket's fixed duration buckets; null when no task with a known start ended in it. */
  p95_ms: number | null;
}

/** What `GET /history` answers: every domain that ended a task in the window, each with every bucket, oldest first. */
export interface TaskHistory {
  window: HistoryWindow;
  bucket_seconds: number;
  domains: Record<string, HistoryPoint[]>;
}

/**
 * Throughput, failures and p95 run time per domain over a window (24 hourly or 28 six-hourly buckets),
 * from the expiring hourly hashes the task-end step writes: of the tasks of `client`, or of every
 * client when it is undefined (an admin key's view).
 */
export async function taskHistory(redis: Redis, keys: Keys, window: HistoryWindow, client: string | undefined, clock: Clock = systemClock): Promise<TaskHistory> {
  const buckets = await readHistory(redis, keys, window, clock.now(), client);
  const names = [...new Set(buckets.flatMap((b) => [...b.domains.keys()]))].sort();
  const domains: Record<string, HistoryPoint[]> = {};
  for (const name of names) {
    domains[name] = buckets.map((b) => {
      const d = b.domains.get(name);
      const p95 = d ? quantileFromBuckets(TASK_DURATION_BOUNDS_MS, d.buckets, 0.95) : undefined;
      return { start: new Date(b.startS * 1000).toISOString(), completed: d?.completed ?? 0, failed: d?.failed ?? 0, p95_ms: p95 === undefined ? null : Math.round(p95) };
    });
  }
  return { window, bucket_seconds: HISTORY_WINDOWS[window].bucketS, domains };
}
