import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { METRIC_FIELD_SEP } from './metric-buckets.js';

/**
 * Reads of what model calls cost, as the model gateway's cost-settle script keeps it: per task (its
 * own calls, per model and per worker) and per UTC day (per client, domain and model, behind `dan
 * cost`). Bounded: a task's hash has at most a few hundred fields, a day's one per client x domain x model.
 */

/** Tokens, calls and dollars of a set of model calls; `unpriced_calls` cost an unknown amount not in `usd`. */
export interface CostFigures {
  usd: number;
  calls: number;
  unpriced_calls: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** What a result carries in `output.cost` (its own calls) and `output.cost_total` (its sub-tasks' included). */
export interface TaskCost extends CostFigures {
  by_model: Record<string, CostFigures>;
  by_worker: Record<string, CostFigures>;
  /** The task's budget and what it had spent of it, when it had one. */
  budget?: { budget_usd: number; spent_usd: number };
  /** Set when a model call was refused because a budget was spent: which, its limit and what was spent. */
  budget_exceeded?: { scope: string; budget_usd: number; spent_usd: number };
}

const FIGURES = ['calls', 'unpriced_calls', 'input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const;

/** Zero of everything. */
export function emptyCost(): CostFigures {
  return { usd: 0, calls: 0, unpriced_calls: 0, input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

/** Adds `more` into `into` (for sub-tasks' totals); anything that is not a count is skipped (results are read from Redis). */
export function addCost(into: CostFigures, more: unknown): CostFigures {
  if (typeof more !== 'object' || more === null) return into;
  const m = more as Record<string, unknown>;
  const usd = m['usd'];
  if (typeof usd === 'number' && Number.isFinite(usd) && usd >= 0) into.usd = round6(into.usd + usd);
  for (const f of FIGURES) {
    const n = m[f];
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) into[f] += n;
  }
  return into;
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** The fields of a taken task the gateway needs to attribute a call: who holds it, its raw JSON and domain. */
export interface CallTask {
  owner: string | undefined;
  raw: string | undefined;
  domain: string | undefined;
}

/** The holder, raw JSON and domain of a taken task (`dan:task:{id}`); undefined when nobody took it. */
export async function readCallTask(redis: Redis, keys: Keys, taskId: string): Promise<CallTask | undefined> {
  const [owner, raw, domain] = await redis.hmget(keys.task(taskId), 'owner', 'raw', 'domain');
  if (owner === null && raw === null) return undefined;
  return { owner: owner ?? undefined, raw: raw ?? undefined, domain: domain ?? undefined };
}

/** A task's own model-call cost as the gateway recorded it, with its budget; undefined when no call was counted for it. */
export async function readTaskCost(redis: Redis, keys: Keys, taskId: string): Promise<TaskCost | undefined> {
  const [hash, budget] = await Promise.all([redis.hgetall(keys.costTask(taskId)), redis.hmget(keys.budgetTask(taskId), 'limit', 'spent')]);
  if (Object.keys(hash).length === 0 && budget[0] === null) return undefined;
  const cost: TaskCost = { ...figuresOf(hash, ''), by_model: {}, by_worker: {} };
  for (const field of Object.keys(hash)) {
    const [group, name, figure] = field.split(METRIC_FIELD_SEP);
    if (figure === undefined || name === undefined) continue;
    const into = group === 'model' ? cost.by_model : group === 'worker' ? cost.by_worker : undefined;
    if (into && !(name in into)) into[name] = figuresOf(hash, `${group}${METRIC_FIELD_SEP}${name}${METRIC_FIELD_SEP}`);
  }
  if (budget[0] !== null) cost.budget = { budget_usd: micro(budget[0]), spent_usd: micro(budget[1]) };
  if (hash['refused_scope'] !== undefined) {
    cost.budget_exceeded = { scope: hash['refused_scope'], budget_usd: micro(hash['refused_limit']), spent_usd: micro(hash['refused_spent']) };
  }
  return cost;
}

function micro(value: string | null | undefined): number {
  const n = Number(value ?? 0);
  return Number.isFinite(n) ? round6(n / 1e6) : 0;
}

function figuresOf(hash: Record<string, string>, prefix: string): CostFigures {
  const n = (field: string): number => {
    const v = Number(hash[prefix + field] ?? 0);
    return Number.isSafeInteger(v) && v >= 0 ? v : 0;
  };
  const out = emptyCost();
  out.usd = round6(n('usd_micro') / 1e6);
  for (const f of FIGURES) out[f] = n(f);
  return out;
}

/**
 * A task's `cost` and `cost_total` for its result: its own calls, and those plus every sub-task's
 * `cost_total` (each already holds its own sub-tasks'), read from the sub-tasks' results, or taken from
 * `childOutputs` when the caller has read them all already.
 */
export async function taskCostFields(
  redis: Redis, keys: Keys, taskId: string, childOutputs?: readonly Record<string, unknown>[],
): Promise<{ cost?: TaskCost; cost_total?: TaskCost }> {
  // Most tasks made no model call, have no budget and queued no sub-task: one EXISTS says so, and then
  // none of the reads below is sent.
  const named = childOutputs ? [keys.costTask(taskId), keys.budgetTask(taskId)] : [keys.costTask(taskId), keys.budgetTask(taskId), keys.children(taskId)];
  const any = (await redis.exists(...named)) > 0;
  const [outputs, own] = await Promise.all([
    childOutputs ?? (any ? readChildOutputs(redis, keys, taskId) : []),
    any ? readTaskCost(redis, keys, taskId) : undefined,
  ]);
  const childTotals = outputs.map((o) => o['cost_total']).filter((c): c is Record<string, unknown> => typeof c === 'object' && c !== null);
  if (!own && childTotals.length === 0) return {};
  const base: TaskCost = own ?? { ...emptyCost(), by_model: {}, by_worker: {} };
  const total: TaskCost = { ...addCost(emptyCost(), base), by_model: mergeGroups({}, base.by_model), by_worker: mergeGroups({}, base.by_worker) };
  for (const child of childTotals) {
    addCost(total, child);
    mergeGroups(total.by_model, child['by_model']);
    mergeGroups(total.by_worker, child['by_worker']);
  }
  return { ...(own ? { cost: own } : {}), cost_total: total };
}

/** `output` with the task's cost fields (taskCostFields); as it is when they cannot be read (the task still ends). */
export async function withTaskCost(
  redis: Redis, keys: Keys, taskId: string, output: Record<string, unknown>, childOutputs?: readonly Record<string, unknown>[],
): Promise<Record<string, unknown>> {
  try {
    return { ...output, ...(await taskCostFields(redis, keys, taskId, childOutputs)) };
  } catch {
    return output;
  }
}

/** The outputs of a task's sub-tasks (its first 1,000), from their results; {} for one unreadable. */
async function readChildOutputs(redis: Redis, keys: Keys, taskId: string): Promise<Record<string, unknown>[]> {
  const children = await redis.smembers(keys.children(taskId));
  const texts = await Promise.all(children.slice(0, 1000).map((id) => redis.hget(keys.result(id), 'output')));
  return texts.map((text) => {
    try {
      const parsed: unknown = JSON.parse(text ?? '{}');
      return typeof parsed === 'object' && parsed !== null ? parsed as Record<string, unknown> : {};
    } catch {
      return {};
    }
  });
}

function mergeGroups(into: Record<string, CostFigures>, more: unknown): Record<string, CostFigures> {
  if (typeof more !== 'object' || more === null) return into;
  for (const [name, figures] of Object.entries(more as Record<string, unknown>).slice(0, 200)) {
    into[name] = addCost(into[name] ?? emptyCost(), figures);
  }
  return into;
}

/** One row of the day counters: a client's calls to a model for a domain on a day. */
export interface CostRow {
  day: string;
  client: string;
  domain: string;
  model: string;
  usd: number;
  calls: number;
  unpriced_calls: number;
}

/** The day counters of `days` (`YYYY-MM-DD`), in one round trip, as rows. */
export async function readCostDays(redis: Redis, keys: Keys, days: readonly string[]): Promise<CostRow[]> {
  const pipeline = redis.pipeline();
  for (const day of days) pipeline.hgetall(keys.costDay(day));
  const replies = (await pipeline.exec()) ?? [];
  const rows = new Map<string, CostRow>();
  days.forEach((day, i) => {
    const [error, value] = replies[i] ?? [null, {}];
    if (error) throw error;
    for (const [field, text] of Object.entries((value ?? {}) as Record<string, string>)) {
      const parts = field.split(METRIC_FIELD_SEP);
      const n = Number(text);
      if (parts.length !== 4 || !Number.isSafeInteger(n) || n < 0) continue;
      const [kind, client, domain, model] = parts as [string, string, string, string];
      const id = [day, client, domain, model].join(METRIC_FIELD_SEP);
      const row = rows.get(id) ?? { day, client, domain, model, usd: 0, calls: 0, unpriced_calls: 0 };
      rows.set(id, row);
      if (kind === 'usd') row.usd = round6(n / 1e6);
      else if (kind === 'calls') row.calls = n;
      else if (kind === 'unpriced') row.unpriced_calls = n;
    }
  });
  return [...rows.values()];
}
