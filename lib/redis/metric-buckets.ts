import { DEFAULT_CLIENT_ID } from '../protocol/client-id.js';

/**
 * The fixed buckets durations are counted in, for /metrics' histograms and /history's p95: defined
 * once here, and generated into the Lua scripts that count task ends (lua-file-script.ts), so the
 * scripts and the readers cannot disagree. A bucket's count is how many durations fell at or under
 * its bound and over the previous one; the last bucket (past every bound) is `+Inf`.
 */

/** Task run times, in ms: a model answer takes seconds, a task with workers and checks minutes. */
export const TASK_DURATION_BOUNDS_MS = [100, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_200_000, 1_800_000, 3_600_000] as const;

/** Model call times, in ms: a short answer takes under a second, a long one streamed minutes. */
export const MODEL_CALL_BOUNDS_MS = [250, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 40_000, 60_000, 120_000, 300_000] as const;

/** What separates the parts of a metrics hash field (`domain\tstatus\tcode`); no part it joins may hold it. */
export const METRIC_FIELD_SEP = '\t';

/**
 * /history is kept in one Redis hash per hour (`dan:history:{start}`), each expiring once the longest
 * window has passed it, so at most 169 hashes exist whatever the traffic, and they outlive every dan
 * process. A task's end is counted in one of them; a window reads the hours it spans and answers them
 * in buckets of its own size.
 */
export const HISTORY_BUCKET_S = 3_600;

/** The windows of /history: how many buckets of what size (a whole number of stored hours). */
export const HISTORY_WINDOWS = {
  '24h': { bucketS: 3_600, buckets: 24 },
  '7d': { bucketS: 21_600, buckets: 28 },
} as const;

export type HistoryWindow = keyof typeof HISTORY_WINDOWS;
export const HISTORY_WINDOW_NAMES = Object.keys(HISTORY_WINDOWS) as HistoryWindow[];

/** Seconds an hour's hash lives after its start: the longest window and one hour more, so its oldest bucket is still whole. */
export const HISTORY_KEEP_S = Math.max(...HISTORY_WINDOW_NAMES.map((w) => HISTORY_WINDOWS[w].bucketS * HISTORY_WINDOWS[w].buckets)) + HISTORY_BUCKET_S;

/** The 1-based bucket a duration falls in (bounds.length + 1: past every bound), as the Lua `bound_index` does. */
export function bucketOf(bounds: readonly number[], value: number): number {
  const i = bounds.findIndex((bound) => value <= bound);
  return i === -1 ? bounds.length + 1 : i + 1;
}

/**
 * The `q` quantile (0.95 for p95) of durations counted in buckets (`counts[i]`: the bucket i + 1 of
 * `bucketOf`), interpolated linearly inside its bucket as Prometheus' `histogram_quantile` does; past
 * the last bound it is that bound (nothing is known above it). Undefined when nothing was counted.
 */
export function quantileFromBuckets(bounds: readonly number[], counts: readonly number[], q: number): number | undefined {
  const total = counts.reduce((sum, n) => sum + n, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i += 1) {
    const n = counts[i] ?? 0;
    if (n > 0 && below + n >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lower = i === 0 ? 0 : (bounds[i - 1] as number);
      const upper = bounds[i] as number;
      return lower + ((upper - lower) * (rank - below)) / n;
    }
    below += n;
  }
  return bounds[bounds.length - 1];
}

/** The Lua constants the task-end step uses (bounds, field separator, history hour and keep, the default client), generated from the above. */
export function metricsLuaConstants(): string {
  return [
    `local TASK_BOUNDS_MS = { ${TASK_DURATION_BOUNDS_MS.join(', ')} }`,
    `local METRIC_SEP = ${JSON.stringify(METRIC_FIELD_SEP)}`,
    `local HISTORY_BUCKET_S = ${HISTORY_BUCKET_S}`,
    `local HISTORY_KEEP_S = ${HISTORY_KEEP_S}`,
    `local DEFAULT_CLIENT = ${JSON.stringify(DEFAULT_CLIENT_ID)}`,
  ].join('\n');
}
