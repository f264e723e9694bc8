import type { Redis } from 'ioredis';
import type { Clock } from '../../lib/clock.js';
import { systemClock } from '../../lib/clock.js';
import { InvalidInputError } from '../../lib/errors.js';
import { readCostDays } from '../../lib/redis/cost-counters.js';
import type { Keys } from '../../lib/redis/keys.js';

/** What `dan cost` and `GET /cost` can group by. */
export const COST_GROUPS = ['domain', 'client', 'model', 'day'] as const;
export type CostGroup = (typeof COST_GROUPS)[number];

/** The most days a report reaches back: the day counters expire after 400. */
export const MAX_COST_DAYS = 400;

/** One group's spending: dollars of priced calls, calls, and calls to models without a price (their cost unknown, not in usd). */
export interface CostLine {
  key: string;
  usd: number;
  calls: number;
  unpriced_calls: number;
}

/** What `dan cost` and `GET /cost` answer. */
export interface CostReport {
  since: string;
  until: string;
  by: CostGroup;
  /** Only this client's calls; null: every client's (an admin's view, or the CLI's). */
  client: string | null;
  total: Omit<CostLine, 'key'>;
  lines: CostLine[];
}

/**
 * Reads `since` as a day (`YYYY-MM-DD`) or a span back from now (`7d`, `24h`), in UTC; the report
 * starts at the start of that day. Throws an InvalidInputError naming the forms when it is neither.
 */
export function parseSince(since: string | undefined, nowMs: number): string {
  const today = new Date(nowMs).toISOString().slice(0, 10);
  if (since === undefined || since === '') return today;
  const span = /^(\d{1,4})([dh])$/.exec(since);
  if (span) {
    const ms = Number(span[1]) * (span[2] === 'd' ? 86_400_000 : 3_600_000);
    return new Date(nowMs - ms).toISOString().slice(0, 10);
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(since) && !Number.isNaN(Date.parse(`${since}T00:00:00Z`))) return since;
  throw new InvalidInputError(`since must be a day such as 2026-12-01 or a span back from now such as 7d or 24h, got '${since.slice(0, 40)}'`);
}

/** The days from `since` to `until`, both included, at most MAX_COST_DAYS (the most recent ones). */
function daysBetween(since: string, until: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${until}T00:00:00Z`);
  for (let t = Date.parse(`${since}T00:00:00Z`); t <= end; t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out.slice(-MAX_COST_DAYS);
}

/**
 * What model calls cost since a day, grouped, from the bounded day counters the model gateway writes
 * with each call (never by reading results): of `client`'s tasks only, or of every client's (undefined).
 * Calls no task was named for count under client and domain `none`.
 */
export async function costReport(redis: Redis, keys: Keys, options: { since?: string | undefined; by: CostGroup; client?: string | undefined }, clock: Clock = systemClock): Promise<CostReport> {
  const now = clock.now();
  const until = new Date(now).toISOString().slice(0, 10);
  const since = parseSince(options.since, now);
  const rows = await readCostDays(redis, keys, since > until ? [] : daysBetween(since, until));
  const lines = new Map<string, CostLine>();
  const total = { usd: 0, calls: 0, unpriced_calls: 0 };
  for (const row of rows) {
    if (options.client !== undefined && row.client !== options.client) continue;
    const key = row[options.by];
    const line = lines.get(key) ?? { key, usd: 0, calls: 0, unpriced_calls: 0 };
    lines.set(key, line);
    line.usd = round6(line.usd + row.usd);
    line.calls += row.calls;
    line.unpriced_calls += row.unpriced_calls;
    total.usd = round6(total.usd + row.usd);
    total.calls += row.calls;
    total.unpriced_calls += row.unpriced_calls;
  }
  const sorted = [...lines.values()].sort((a, b) => (options.by === 'day' ? a.key.localeCompare(b.key) : b.usd - a.usd || a.key.localeCompare(b.key)));
  return { since, until, by: options.by, client: options.client ?? null, total, lines: sorted };
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
