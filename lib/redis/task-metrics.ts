import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import {
  HISTORY_BUCKET_S, HISTORY_WINDOWS, MODEL_CALL_BOUNDS_MS, METRIC_FIELD_SEP, TASK_DURATION_BOUNDS_MS, bucketOf, type HistoryWindow,
} from './metric-buckets.js';

/**
 * The network's counters, kept in Redis so every `dan serve` (and main's metrics port) reports the
 * same numbers and they outlive every process. Each is counted at the one place its event happens:
 * task ends by the scripts' `finish_result` (lua/common.lua), dead letters by their `dead_letter`,
 * spawns by the supervisor, model calls by the model gateway. Read back here at scrape time.
 */

/** A duration histogram as kept: `buckets[i]` counts durations in bucket i + 1 of `bucketOf` (not cumulative; their sum is the count). */
export interface DurationCounts {
  buckets: number[];
  sumMs: number;
}

export interface MetricCounters {
  tasks: { domain: string; status: string; code: string; count: number }[];
  taskDurations: { domain: string; status: string; durations: DurationCounts }[];
  deadLetters: { domain: string; code: string; count: number }[];
  spawns: { domain: string; outcome: string; count: number }[];
  modelCalls: { model: string; status: string; count: number }[];
  modelTokens: { model: string; kind: string; count: number }[];
  modelDurations: { model: string; durations: DurationCounts }[];
  /** Dollars of priced calls per model, counted by the gateway's cost-settle script (kept in micro-dollars). */
  modelCost: { model: string; usd: number }[];
  modelUnpriced: { model: string; count: number }[];
}

/** The token kinds of a model call's `usage`, as `dan_model_tokens_total{kind}` names them. */
export const TOKEN_KINDS = ['input', 'output', 'cache_creation_input', 'cache_read_input'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** One model call as the gateway saw it. */
export interface ModelCallRecord {
  /** The model the answer named; `unknown` when it named none (an error, a model list). */
  model: string;
  /** The HTTP status the caller got, or `error` when the call broke before one. */
  status: string;
  durationMs: number;
  tokens: Partial<Record<TokenKind, number>>;
}

// A model name is a label: kept only when it looks like one, so an upstream cannot fill Redis with names.
const MODEL_NAME = /^[A-Za-z0-9._:@/-]{1,100}$/;

/** Counts one model call: its outcome, its tokens by kind and its duration (one round trip). */
export async function recordModelCall(redis: Redis, keys: Keys, call: ModelCallRecord): Promise<void> {
  const model = MODEL_NAME.test(call.model) ? call.model : 'unknown';
  const status = /^(\d{3}|error)$/.test(call.status) ? call.status : 'error';
  const key = keys.metricsModelCalls();
  const field = (...parts: string[]): string => parts.join(METRIC_FIELD_SEP);
  const ms = Math.max(0, Math.round(call.durationMs));
  const tx = redis.multi()
    .hincrby(key, field('calls', model, status), 1)
    .hincrby(key, field('seconds', model, `b${bucketOf(MODEL_CALL_BOUNDS_MS, ms)}`), 1)
    .hincrby(key, field('seconds', model, 'sum_ms'), ms);
  for (const kind of TOKEN_KINDS) {
    const n = call.tokens[kind];
    if (n !== undefined && Number.isSafeInteger(n) && n > 0) tx.hincrby(key, field('tokens', model, kind), n);
  }
  await tx.exec();
}

/** Counts one domain agent spawn (`started`: the spawner started it) or a start that failed (`failed`). */
export async function recordSpawn(redis: Redis, keys: Keys, domain: string, outcome: 'started' | 'failed'): Promise<void> {
  await redis.hincrby(keys.metricsSpawns(), `${domain}${METRIC_FIELD_SEP}${outcome}`, 1);
}

/** Every counter, in one round trip (five hashes, each bounded by domains, codes, models and buckets). */
export async function readMetricCounters(redis: Redis, keys: Keys): Promise<MetricCounters> {
  const replies = (await redis.pipeline()
    .hgetall(keys.metricsTasks()).hgetall(keys.metricsTaskSeconds()).hgetall(keys.metricsDeadLetters())
    .hgetall(keys.metricsSpawns()).hgetall(keys.metricsModelCalls())
    .exec()) ?? [];
  const [tasks, taskSeconds, deadLetters, spawns, model] = replies.map(([error, value]) => {
    if (error) throw error;
    return (value ?? {}) as Record<string, string>;
  }) as [Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>];

  const byModel = splitModelHash(model);
  return {
    tasks: entries(tasks, 2).map(([domain, [status, code], count]) => ({ domain, status: status ?? '', code: code ?? '', count })),
    taskDurations: durationGroups(taskSeconds, 1, TASK_DURATION_BOUNDS_MS.length).map(([domain, [status], durations]) => ({ domain, status: status ?? '', durations })),
    deadLetters: entries(deadLetters, 1).map(([domain, [code], count]) => ({ domain, code: code ?? '', count })),
    spawns: entries(spawns, 1).map(([domain, [outcome], count]) => ({ domain, outcome: outcome ?? '', count })),
    modelCalls: entries(byModel.calls, 1).map(([name, [status], count]) => ({ model: name, status: status ?? '', count })),
    modelTokens: entries(byModel.tokens, 1).map(([name, [kind], count]) => ({ model: name, kind: kind ?? '', count })),
    modelDurations: durationGroups(byModel.seconds, 0, MODEL_CALL_BOUNDS_MS.length).map(([name, , durations]) => ({ model: name, durations })),
    modelCost: entries(byModel.cost, 0).map(([name, , micro]) => ({ model: name, usd: micro / 1e6 })),
    modelUnpriced: entries(byModel.unpriced, 0).map(([name, , count]) => ({ model: name, count })),
  };
}

/** One bucket of a history window: its start and, per domain, tasks ended completed and failed and their run-time buckets. */
export interface HistoryBucket {
  startS: number;
  domains: Map<string, { completed: number; failed: number; buckets: number[] }>;
}

/**
 * The buckets of a history window that ends at `nowMs`, oldest first (the last one still filling): the
 * hours each spans, read from their expiring hashes in one round trip (at most 168) and added up, for
 * the tasks of `client` (undefined: of every client).
 */
export async function readHistory(redis: Redis, keys: Keys, window: HistoryWindow, nowMs: number, client?: string): Promise<HistoryBucket[]> {
  const { bucketS, buckets } = HISTORY_WINDOWS[window];
  const current = Math.floor(nowMs / 1000 / bucketS) * bucketS;
  const out: HistoryBucket[] = Array.from({ length: buckets }, (_, i) => ({ startS: current - (buckets - 1 - i) * bucketS, domains: new Map() }));
  const hours: number[] = [];
  for (let hour = out[0]?.startS ?? current; hour < current + bucketS && hour <= nowMs / 1000; hour += HISTORY_BUCKET_S) hours.push(hour);
  const pipeline = redis.pipeline();
  for (const hour of hours) pipeline.hgetall(keys.history(String(hour)));
  const replies = (await pipeline.exec()) ?? [];
  hours.forEach((hour, i) => {
    const [error, value] = replies[i] ?? [null, {}];
    if (error) throw error;
    const bucket = out[Math.floor((hour - (out[0]?.startS ?? current)) / bucketS)];
    if (!bucket) return;
    for (const [domain, [whose, name], n] of entries((value ?? {}) as Record<string, string>, 2)) {
      if (client !== undefined && whose !== client) continue;
      const d = bucket.domains.get(domain) ?? { completed: 0, failed: 0, buckets: new Array<number>(TASK_DURATION_BOUNDS_MS.length + 1).fill(0) };
      bucket.domains.set(domain, d);
      if (name === 'completed' || name === 'failed') d[name] += n;
      const b = /^b(\d+)$/.exec(name ?? '');
      const at = b ? Number(b[1]) - 1 : -1;
      if (at >= 0 && at < d.buckets.length) d.buckets[at] = (d.buckets[at] ?? 0) + n;
    }
  });
  return out;
}

/**
 * A hash's fields split at the separator into the leading part (a domain or model, which may hold
 * anything) and its last `tail` parts, with the count; fields that do not split so, or whose value is
 * not a whole number, are skipped (anything on Redis may have been written by anyone).
 */
function entries(hash: Record<string, string>, tail: number): [string, string[], number][] {
  const out: [string, string[], number][] = [];
  for (const [field, value] of Object.entries(hash)) {
    const parts = field.split(METRIC_FIELD_SEP);
    const count = Number(value);
    if (parts.length < tail + 1 || !Number.isSafeInteger(count) || count < 0) continue;
    out.push([parts.slice(0, parts.length - tail).join(METRIC_FIELD_SEP), parts.slice(parts.length - tail), count]);
  }
  return out;
}

/** Histogram fields (`<group parts>\tb<n>|sum_ms`) gathered per group: `extra` parts after the leading one. */
function durationGroups(hash: Record<string, string>, extra: number, bounds: number): [string, string[], DurationCounts][] {
  const groups = new Map<string, [string, string[], DurationCounts]>();
  for (const [lead, parts, n] of entries(hash, extra + 1)) {
    const rest = parts.slice(0, extra);
    const id = [lead, ...rest].join(METRIC_FIELD_SEP);
    const group = groups.get(id) ?? [lead, rest, { buckets: new Array<number>(bounds + 1).fill(0), sumMs: 0 }];
    groups.set(id, group);
    const name = parts[extra] ?? '';
    const b = /^b(\d+)$/.exec(name);
    if (name === 'sum_ms') group[2].sumMs = n;
    else if (b && Number(b[1]) >= 1 && Number(b[1]) <= bounds + 1) group[2].buckets[Number(b[1]) - 1] = n;
  }
  return [...groups.values()];
}

// `cost` (micro-dollars) and `unpriced` are written by the model gateway's cost-settle script (lib/redis/lua/cost-settle-5.lua).
const MODEL_HASH_KINDS = ['calls', 'tokens', 'seconds', 'cost', 'unpriced'] as const;
type ModelHashKind = (typeof MODEL_HASH_KINDS)[number];

/** The model hash split by its first part (calls, tokens, seconds), each with the model first. */
function splitModelHash(hash: Record<string, string>): Record<ModelHashKind, Record<string, string>> {
  const out = { calls: {}, tokens: {}, seconds: {}, cost: {}, unpriced: {} } as Record<ModelHashKind, Record<string, string>>;
  for (const [field, value] of Object.entries(hash)) {
    const at = field.indexOf(METRIC_FIELD_SEP);
    const kind = field.slice(0, at);
    if (at > 0 && (MODEL_HASH_KINDS as readonly string[]).includes(kind)) out[kind as ModelHashKind][field.slice(at + 1)] = value;
  }
  return out;
}
