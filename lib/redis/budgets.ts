import type { Redis } from 'ioredis';
import type { TokenKind } from './task-metrics.js';
import type { Keys } from './keys.js';
import { LuaFileScript } from './lua/lua-file-script.js';
import { METRIC_FIELD_SEP } from './metric-buckets.js';

const reserveScript = new LuaFileScript({ file: 'budget-reserve-3.lua', keys: ['task', 'client', 'cost'], args: ['taskLimit', 'clientLimit', 'estimate', 'ttlS', 'hold', 'holdMs'] });
const settleScript = new LuaFileScript({
  file: 'cost-settle-5.lua', keys: ['task', 'client', 'cost', 'day', 'metrics'],
  args: ['hasTask', 'reserved', 'hold', 'cost', 'model', 'client', 'domain', 'worker', 'sep', 'input', 'output', 'cacheWrite', 'cacheRead', 'ttlS', 'dayTtlS', 'warnPercent', 'maxFields'],
});

/** 8 days: a task's budget and cost outlive any task (7 days at most) and its retries. */
export const TASK_COST_TTL_S = 8 * 24 * 3600;
/** 400 days of daily cost counters: `dan cost --since` reaches back a year and a month. */
export const COST_DAY_TTL_S = 400 * 24 * 3600;
/**
 * 15 minutes: how long a call's reservation lasts when nothing settles it (its gateway died between
 * reserve and settle); it is then taken back. Longer than any call the SDKs wait for (10 minutes), so a
 * call still streaming keeps its reservation.
 */
export const BUDGET_HOLD_MS = 15 * 60_000;
/** The share of a budget past which the gateway logs a warning, once per budget. */
export const BUDGET_WARN_PERCENT = 80;
/** Fields a task's cost hash holds at most (models and workers beyond count as `other`): it is written for an agent's calls. */
const MAX_TASK_COST_FIELDS = 200;

/** The budgets a model call spends from, in micro-dollars (undefined: that budget is not set). */
export interface CallBudgets {
  taskId: string;
  client: string;
  /** The UTC day (`YYYY-MM-DD`) the client's budget is of. */
  day: string;
  taskLimitMicro: number | undefined;
  clientLimitMicro: number | undefined;
}

/** What budget-reserve decided: go ahead, the budget of `scope` is spent, or wait for calls in flight. */
export interface ReserveOutcome {
  outcome: 'ok' | 'exceeded' | 'wait';
  scope: 'task' | 'client' | '';
  spentMicro: number;
  limitMicro: number;
}

/** A call's reservation: its id (settled by it) and how long it lasts unsettled. */
export interface BudgetHold {
  id: string;
  /** Default BUDGET_HOLD_MS. */
  ms?: number;
}

/**
 * Checks a call's budgets and reserves `estimateMicro` in each, atomically (one script): with many
 * workers spending from one budget at once, each sees the others' reservations, so the budget is
 * passed by at most one call's cost. The reservation is held as `hold.id` for `hold.ms`: one nobody
 * settles by then (its gateway died) is taken back by the next reserve of that budget.
 */
export async function reserveBudget(redis: Redis, keys: Keys, budgets: CallBudgets, estimateMicro: number, hold: BudgetHold): Promise<ReserveOutcome> {
  const reply = (await reserveScript.run(redis, {
    keys: { task: keys.budgetTask(budgets.taskId), client: keys.budgetClient(budgets.client, budgets.day), cost: keys.costTask(budgets.taskId) },
    args: { taskLimit: limitArg(budgets.taskLimitMicro), clientLimit: limitArg(budgets.clientLimitMicro), estimate: Math.max(0, Math.round(estimateMicro)), ttlS: TASK_COST_TTL_S,
      hold: hold.id, holdMs: Math.max(0, Math.round(hold.ms ?? BUDGET_HOLD_MS)) },
  })) as [string, string, number, number];
  return { outcome: reply[0] as ReserveOutcome['outcome'], scope: reply[1] as ReserveOutcome['scope'], spentMicro: Number(reply[2]), limitMicro: Number(reply[3]) };
}

function limitArg(micro: number | undefined): string {
  return micro === undefined ? '' : String(Math.round(micro));
}

/** One ended model call as the cost counters take it. */
export interface CallCost {
  /** The budgets it was reserved in; undefined for a call attributed to no task (its agent only). */
  budgets: CallBudgets | undefined;
  reservedMicro: number;
  /** The id its reservation was held as (reserveBudget's `hold.id`); absent when nothing was reserved. */
  holdId?: string | undefined;
  /** Micro-dollars, or undefined when the model has no price (counted as unpriced, never as 0). */
  costMicro: number | undefined;
  model: string;
  client: string;
  domain: string;
  worker: string;
  day: string;
  tokens: Partial<Record<TokenKind, number>>;
}

/** A budget this call took past BUDGET_WARN_PERCENT for the first time. */
export interface BudgetCrossing {
  scope: string;
  spentMicro: number;
  limitMicro: number;
}

/**
 * Records a call's cost in one step (one script): releases its reservation, adds the cost to its
 * budgets, to the task's totals per model and worker, to the day's counters and to /metrics' counter.
 * Resolves with the budgets it took past the warning share.
 */
export async function recordCallCost(redis: Redis, keys: Keys, call: CallCost): Promise<BudgetCrossing[]> {
  const taskId = call.budgets?.taskId ?? '-';
  const n = (kind: TokenKind): number => {
    const v = call.tokens[kind];
    return v !== undefined && Number.isSafeInteger(v) && v > 0 ? v : 0;
  };
  const reply = (await settleScript.run(redis, {
    keys: {
      task: keys.budgetTask(taskId), client: keys.budgetClient(call.budgets?.client ?? call.client, call.budgets?.day ?? call.day),
      cost: keys.costTask(taskId), day: keys.costDay(call.day), metrics: keys.metricsModelCalls(),
    },
    args: {
      hasTask: call.budgets ? '1' : '', reserved: Math.max(0, Math.round(call.reservedMicro)), hold: call.holdId ?? '', cost: call.costMicro === undefined ? '' : Math.max(0, Math.round(call.costMicro)),
      model: call.model, client: call.client, domain: call.domain, worker: call.worker, sep: METRIC_FIELD_SEP,
      input: n('input'), output: n('output'), cacheWrite: n('cache_creation_input'), cacheRead: n('cache_read_input'),
      ttlS: TASK_COST_TTL_S, dayTtlS: COST_DAY_TTL_S, warnPercent: BUDGET_WARN_PERCENT, maxFields: MAX_TASK_COST_FIELDS,
    },
  })) as (string | number)[];
  const out: BudgetCrossing[] = [];
  for (let i = 0; i + 2 < reply.length; i += 3) out.push({ scope: String(reply[i]), spentMicro: Number(reply[i + 1]), limitMicro: Number(reply[i + 2]) });
  return out;
}

/** A task's budget as kept: what it may spend, has spent and holds reserved for calls in flight (micro-dollars). */
export async function readTaskBudget(redis: Redis, keys: Keys, taskId: string): Promise<{ limitMicro: number; spentMicro: number; reservedMicro: number } | undefined> {
  const [limit, spent, reserved] = await redis.hmget(keys.budgetTask(taskId), 'limit', 'spent', 'reserved');
  if (limit === null) return undefined;
  return { limitMicro: Number(limit) || 0, spentMicro: Number(spent) || 0, reservedMicro: Number(reserved) || 0 };
}
