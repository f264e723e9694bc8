import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Redis } from 'ioredis';
import { sleep } from '../clock.js';
import type { Logger } from '../logger.js';
import { CLIENT_ID_PATTERN, DEFAULT_CLIENT_ID } from '../protocol/client-id.js';
import { budgetUsdSchema } from '../protocol/budget.js';
import { isValidTaskId } from '../protocol/task.js';
import { readCallTask, type CallTask } from '../redis/cost-counters.js';
import { recordCallCost, reserveBudget, type CallBudgets, type CallCost } from '../redis/budgets.js';
import { tokenHoldsTask, type GatewayToken } from '../redis/gateway-tokens.js';
import type { Keys } from '../redis/keys.js';
import type { TokenKind } from '../redis/task-metrics.js';
import { TASK_HEADER, WORKER_HEADER } from './attribution-headers.js';
import type { MessagesBody } from './messages-body.js';
import { callCostMicroUsd, MICRO_USD_PER_USD, priceOf, usdOf, type PriceTable } from './model-prices.js';


const WORKER_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const MODEL_NAME = /^[A-Za-z0-9._:@/-]{1,100}$/;
// A call that names no max_tokens is reserved as if it could write this many (the SDK always names one).
const DEFAULT_MAX_TOKENS = 4096;
// Bytes of request per input token when estimating: fewer than the 3.5 to 4 of English text, so the estimate errs high.
const BYTES_PER_TOKEN = 3;

/** Who a call's token was issued to: an agent, or a group (`domains` set) whose agents share it. */
export type Caller = Pick<GatewayToken, 'agentId' | 'domains'>;

/** What the gateway knows of a call before it is forwarded, kept until its usage is read. */
export interface CallTicket {
  agentId: string;
  taskId: string | undefined;
  budgets: CallBudgets | undefined;
  reservedMicro: number;
  /** The id its reservation is held as in the budgets (when something was reserved). */
  holdId?: string;
  client: string;
  domain: string;
  worker: string;
  day: string;
  requestModel: string;
}

/** Go ahead with `ticket`, or refuse the call with this answer (never forwarded). */
export type CostDecision = { ok: true; ticket: CallTicket } | { ok: false; status: number; type: string; message: string };

/** The model gateway's hooks for prices and budgets: one before a call is forwarded, one after its usage is read. */
export interface GatewayCostHooks {
  /** `caller` is the record of the call's token: an agent's, or a spawn group's (lib/redis/gateway-tokens.ts). */
  before(caller: Caller, headers: IncomingHttpHeaders, body: MessagesBody): Promise<CostDecision>;
  after(ticket: CallTicket, model: string | undefined, tokens: Partial<Record<TokenKind, number>>): Promise<void>;
}

export interface CostControlOptions {
  redis: Redis;
  keys: Keys;
  prices: PriceTable;
  /** Dollars each client may spend per UTC day; undefined: no daily budget. */
  clientDailyBudgetUsd?: number | undefined;
  logger: Logger;
  clock?: () => number;
  /** How long a call waits for calls in flight to settle a nearly spent budget before it is refused. Default 60 s. */
  maxWaitMs?: number;
  /** How long a reservation nobody settles (its gateway died) holds its budget before it is taken back. Default BUDGET_HOLD_MS. */
  holdMs?: number;
}

/**
 * Prices and budgets at the model gateway. Before a call: it finds the task the call is for (the
 * worker's `x-dan-task-id`, believed only when the calling agent holds that task's lease), checks the
 * task's budget and its client's budget of the day, and reserves the call's estimated cost in both in
 * one Redis script; a spent budget refuses the call (402, not retried). After it: the call's cost
 * from its usage and the price table is recorded in one script (budgets, task totals, day counters,
 * /metrics). A model without a price is made and counted as unpriced, with a warning, never as $0.
 */
export class CostControl implements GatewayCostHooks {
  private readonly clock: () => number;
  private readonly maxWaitMs: number;
  private readonly unpricedWarned = new Set<string>();

  constructor(private readonly options: CostControlOptions) {
    this.clock = options.clock ?? Date.now;
    this.maxWaitMs = options.maxWaitMs ?? 60_000;
  }

  async before(caller: Caller, headers: IncomingHttpHeaders, body: MessagesBody): Promise<CostDecision> {
    const { redis, keys, logger } = this.options;
    const { agentId } = caller;
    const request = readRequest(body.json);
    const worker = headerValue(headers[WORKER_HEADER]);
    const day = utcDay(this.clock());
    const task = await this.attribute(caller, headerValue(headers[TASK_HEADER]));
    const ticket: CallTicket = {
      agentId, taskId: task?.taskId, budgets: undefined, reservedMicro: 0, day, requestModel: request.model,
      client: task?.client ?? 'none', domain: task?.domain ?? 'none', worker: worker !== undefined && WORKER_NAME.test(worker) ? worker : 'unnamed',
    };
    if (!task) return { ok: true, ticket };
    const budgets: CallBudgets = {
      taskId: task.taskId, client: task.client, day,
      taskLimitMicro: task.budgetUsd === undefined ? undefined : task.budgetUsd * MICRO_USD_PER_USD,
      clientLimitMicro: this.options.clientDailyBudgetUsd === undefined ? undefined : this.options.clientDailyBudgetUsd * MICRO_USD_PER_USD,
    };
    // No budget to hold it to: nothing to reserve, but its cost is still the task's.
    if (budgets.taskLimitMicro === undefined && budgets.clientLimitMicro === undefined) return { ok: true, ticket: { ...ticket, budgets } };
    const estimate = this.estimateMicro(request, body.raw.length);
    const hold = { id: randomBytes(8).toString('hex'), ...(this.options.holdMs !== undefined ? { ms: this.options.holdMs } : {}) };
    const waitUntil = this.clock() + this.maxWaitMs;
    for (;;) {
      const reserved = await reserveBudget(redis, keys, budgets, estimate, hold);
      if (reserved.outcome === 'ok') return { ok: true, ticket: { ...ticket, budgets, reservedMicro: estimate, holdId: hold.id } };
      if (reserved.outcome === 'exceeded' || this.clock() >= waitUntil) {
        const whose = reserved.scope === 'client' ? `client ${task.client}'s budget for ${day} (DAN_CLIENT_DAILY_BUDGET_USD)` : `task ${task.taskId}'s budget (metadata.budget_usd)`;
        const why = reserved.outcome === 'exceeded' ? 'is spent' : `stayed full of calls in flight for ${this.maxWaitMs} ms`;
        logger.warn({ taskId: task.taskId, agentId, scope: reserved.scope, spentUsd: usdOf(reserved.spentMicro), budgetUsd: usdOf(reserved.limitMicro) }, 'model call refused: its budget is spent');
        return {
          ok: false, status: 402, type: 'budget_exceeded',
          message: `${whose} of $${usdOf(reserved.limitMicro)} ${why} ($${usdOf(reserved.spentMicro)} spent): the call was not made; send the task again with a larger budget_usd${reserved.scope === 'client' ? ', or raise DAN_CLIENT_DAILY_BUDGET_USD' : ''}`,
        };
      }
      // Only calls in flight fill the budget: their real costs may leave room, so ask again when they have settled.
      await sleep(100);
    }
  }

  async after(ticket: CallTicket, answerModel: string | undefined, tokens: Partial<Record<TokenKind, number>>): Promise<void> {
    const named = answerModel ?? ticket.requestModel;
    const model = MODEL_NAME.test(named) ? named : 'unknown';
    const price = priceOf(this.options.prices, model);
    const answered = Object.keys(tokens).length > 0;
    if (!price && answered && !this.unpricedWarned.has(model)) {
      this.unpricedWarned.add(model);
      this.options.logger.warn({ model }, `model ${model} has no price in the price table: its calls are counted as unpriced (cost unknown, not $0); add it to DAN_MODEL_PRICES`);
    }
    const crossed = await recordCallCost(this.options.redis, this.options.keys, {
      budgets: ticket.budgets, reservedMicro: ticket.reservedMicro, holdId: ticket.holdId,
      // A call that got no usage back (refused upstream, broken) cost nothing.
      costMicro: !answered ? 0 : price ? callCostMicroUsd(price, tokens) : undefined,
      model, client: ticket.client, domain: ticket.domain, worker: ticket.worker, day: ticket.day, tokens,
    });
    for (const c of crossed) {
      this.options.logger.warn({ taskId: ticket.taskId, agentId: ticket.agentId, scope: c.scope, spentUsd: usdOf(c.spentMicro), budgetUsd: usdOf(c.limitMicro) },
        `task ${ticket.taskId ?? '?'} (agent ${ticket.agentId}) has spent ${Math.floor((c.spentMicro / c.limitMicro) * 100)}% of its ${c.scope} budget`);
    }
  }

  /**
   * The task a call is for: the one its header names, when the calling agent holds its lease now (for
   * a group's token: an agent of the group, `tokenHoldsTask`). Anything else (no header, a
   * malformed id, a task another agent or nobody holds) attributes the call to its agent only, with a
   * warning: a worker cannot spend from, or hide its spending in, a task that is not its own.
   */
  private async attribute(caller: Caller, named: string | undefined): Promise<(CallTask & { taskId: string; client: string; budgetUsd: number | undefined }) | undefined> {
    if (named === undefined) return undefined;
    const task = isValidTaskId(named) ? await readCallTask(this.options.redis, this.options.keys, named) : undefined;
    if (!task || !tokenHoldsTask(caller, task)) {
      this.options.logger.warn({ agentId: caller.agentId, ...(caller.domains ? { groupDomains: caller.domains } : {}), claimedTaskId: named.slice(0, 120), owner: task?.owner },
        'model call names a task its agent does not hold: counted for the agent only, outside any task budget');
      return undefined;
    }
    const metadata = readMetadata(task.raw);
    const client = typeof metadata['client_id'] === 'string' && CLIENT_ID_PATTERN.test(metadata['client_id']) ? metadata['client_id'].toLowerCase() : DEFAULT_CLIENT_ID;
    const budget = budgetUsdSchema.safeParse(metadata['budget_usd']);
    return { ...task, taskId: named, client, budgetUsd: budget.success ? budget.data : undefined };
  }

  /** An upper estimate of a call's cost: its request's bytes as input tokens (at the dearer of input and cache write) and all of max_tokens written. */
  private estimateMicro(request: { model: string; maxTokens: number }, bytes: number): number {
    const price = priceOf(this.options.prices, request.model);
    if (!price) return 0;
    const inputTokens = Math.ceil(bytes / BYTES_PER_TOKEN);
    return callCostMicroUsd({ ...price, input: Math.max(price.input, price.cacheWrite) }, { input: inputTokens, output: request.maxTokens });
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `YYYY-MM-DD` of a time, in UTC: the day a client's daily budget and the cost counters are of. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function readRequest(json: Record<string, unknown> | undefined): { model: string; maxTokens: number } {
  const model = json?.['model'];
  const maxTokens = json?.['max_tokens'];
  return {
    model: typeof model === 'string' ? model : 'unknown',
    maxTokens: typeof maxTokens === 'number' && Number.isSafeInteger(maxTokens) && maxTokens > 0 ? maxTokens : DEFAULT_MAX_TOKENS,
  };
}

function readMetadata(raw: string | undefined): Record<string, unknown> {
  try {
    const parsed = JSON.parse(raw ?? '{}') as { metadata?: unknown };
    return typeof parsed.metadata === 'object' && parsed.metadata !== null && !Array.isArray(parsed.metadata) ? parsed.metadata as Record<string, unknown> : {};
  } catch {
    return {};
  }
}


/**
 * A model call that did not pass the gateway (the main orchestrator's router), as the cost counters
 * take it: priced with the same table, counted for domain `main` and no client, held to no budget.
 */
export function unattributedCallCost(prices: PriceTable, call: { model: string; tokens: Partial<Record<TokenKind, number>> }, nowMs: number): CallCost {
  const model = MODEL_NAME.test(call.model) ? call.model : 'unknown';
  const price = priceOf(prices, model);
  const answered = Object.keys(call.tokens).length > 0;
  return {
    budgets: undefined, reservedMicro: 0, costMicro: !answered ? 0 : price ? callCostMicroUsd(price, call.tokens) : undefined,
    model, client: 'none', domain: 'main', worker: 'router', day: utcDay(nowMs), tokens: call.tokens,
  };
}
