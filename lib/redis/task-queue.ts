import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { isoNow, systemClock } from '../clock.js';
import { oneLine } from '../errors.js';
import { scrubberNow, scrubJson, scrubText } from '../scrub.js';
import type { FailureCode } from '../protocol/failure.js';
import { DEFAULT_CLIENT_ID } from '../protocol/client-id.js';
import { DEFAULT_TASK_LIMITS, type Priority, type TaskLimits } from '../protocol/task.js';
import type { Keys } from './keys.js';
import { waitForReplicas } from './connection.js';
import { withTaskCost } from './cost-counters.js';
import { FinishBatcher, type FinishEnd } from './finish-batcher.js';
import {
  claimScript, deadLetterQueueScript, finishScript, reclaimScript, renewScript, retryScript,
} from './lua/queue-scripts.js';


/**
 * How long a task whose `results` hash does not exist yet waits before it is taken anyway. A client
 * following protocol.md pushes first and writes the hash right after; 250 ms covers a separate
 * `redis-cli` call for each, and a client that never writes the hash costs its task only this much.
 */
export const RAW_CLIENT_GRACE_MS = 250;

/** Backoff of retries unless configured: the first retry after 0.5 to 1 s, doubling up to a minute. */
export const DEFAULT_RETRY_BASE_MS = 1_000;
export const DEFAULT_RETRY_MAX_MS = 60_000;
const DEFAULT_HOUSEKEEPING_MS = 200;

/** A domain's queue settings from the network's configuration, for the agent `agentId`. */
export function queueOptions(
  config: Pick<Config, 'leaseMs' | 'retentionMs' | 'maxAttempts' | 'retryBaseMs' | 'retryMaxMs' | 'maxQueueDepth'> & Partial<Pick<Config, 'taskLimits' | 'clients'>>,
  domain: string, agentId: string,
): TaskQueueOptions {
  return {
    domain, agentId, leaseMs: config.leaseMs, retentionMs: config.retentionMs, maxAttempts: config.maxAttempts,
    retryBaseMs: config.retryBaseMs, retryMaxMs: config.retryMaxMs, maxQueueDepth: config.maxQueueDepth,
    ...(config.taskLimits ? { taskLimits: config.taskLimits } : {}),
    ...(config.clients ? { clients: config.clients } : {}),
  };
}

/** A task this consumer holds a lease on. `raw` is the exact text in `tasks:active:{domain}`. */
export interface ClaimedTask {
  taskId: string;
  raw: string;
  attempt: number;
  token: string;
  priority: Priority;
  domain: string;
}

export interface TaskQueueOptions {
  domain: string;
  /** The consumer's agent id: lease owner, shown in results and logs. */
  agentId: string;
  leaseMs: number;
  retentionMs: number;
  maxAttempts: number;
  /** First retry waits between half and all of this; each later one twice as long, up to `retryMaxMs`. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Most tasks that may wait in the domain; raw pushes past it are dead-lettered (0: no limit). */
  maxQueueDepth?: number;
  /** Sizes a task may have: raw pushes over `maxTaskBytes` are dead-lettered, the rest checked when parsed. */
  taskLimits?: TaskLimits;
  /** The clients served besides `default` (DAN_CLIENTS): a task naming another is dead-lettered when first claimed. Undefined: any. */
  clients?: readonly string[];
  /**
   * How often a claim also looks for lapsed leases and due retries (each look costs Redis two reads;
   * a retry this queue knows to be due is looked for at once). Default 200 ms.
   */
  housekeepingMs?: number;
  /** How many raw items one claim call sorts by priority at most (bounds the script's run time). */
  drainMax?: number;
  clock?: Clock;
}

export interface FinishInput {
  status: 'completed' | 'failed';
  output: Record<string, unknown>;
  error?: string;
  /** One last line for the task's log, written in the same atomic step. */
  logLine?: string;
  /** Lines the task's agent held for its end (lib/runtime/task-log.ts), already formatted: written before `logLine`. */
  heldLines?: readonly string[];
  /**
   * Add what the task's model calls cost to `output` (`cost`, `cost_total`: taskCostFields). The finish
   * script looks whether there is any and ends a task without at once; otherwise the cost is read and
   * the script runs again. `childOutputs`: the outputs of every sub-task, when the caller read them all.
   */
  cost?: { childOutputs?: readonly Record<string, unknown>[] };
}

/**
 * One domain's queue as its consumers see it: claim (with priority, dead-lettering, lapsed-lease
 * recovery), renew, finish, and hand back. Every state move is one Lua script (see lua/).
 */
export class TaskQueue {
  readonly domain: string;
  /** What the consumer parsing this queue's tasks holds them to. */
  readonly taskLimits: TaskLimits;
  private readonly clock: Clock;
  private readonly drainMax: number;
  private claims = 0;
  private lastHousekeeping = -Infinity;
  private ingestMayHold = true;
  /** When the next delayed retry is due, as of the last look (ms since the epoch). */
  private nextDueAt: number | undefined;
  /** Ends gathered per turn of the event loop, written in one script call. */
  private readonly finishes = new FinishBatcher((domain, ends) => this.finishBatch(domain, ends));

  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly options: TaskQueueOptions) {
    this.domain = options.domain;
    this.taskLimits = options.taskLimits ?? DEFAULT_TASK_LIMITS;
    this.clock = options.clock ?? systemClock;
    this.drainMax = options.drainMax ?? 1000;
  }

  private nextDue(looked: boolean, dueInMs: number, now: number): number | undefined {
    if (looked) this.nextDueAt = dueInMs < 0 ? undefined : now + dueInMs;
    return this.nextDueAt === undefined ? undefined : Math.max(0, this.nextDueAt - now);
  }

  private get retryArgs(): { retryBaseMs: number; retryMaxMs: number } {
    return { retryBaseMs: this.options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS, retryMaxMs: this.options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS };
  }

  private get retentionSeconds(): number {
    return Math.ceil(this.options.retentionMs / 1000);
  }

  /**
   * Takes up to `count` tasks, highest priority first. `deferred` counts tasks held back for a moment
   * because their client has not written their result hash yet: claim again shortly, do not block.
   */
  async claim(count: number): Promise<ClaimedTask[]> {
    return (await this.claimBatch(count)).tasks;
  }

  /**
   * As `claim`, and also says how many tasks were held back and, in `nextDueMs`, how soon the next
   * delayed retry is due (undefined: none waits), so a consumer knows how long it may block.
   */
  async claimBatch(count: number): Promise<{ tasks: ClaimedTask[]; deferred: number; nextDueMs: number | undefined }> {
    if (count <= 0) return { tasks: [], deferred: 0, nextDueMs: undefined };
    const k = this.keys;
    const d = this.domain;
    const tokenPrefix = `${this.options.agentId}:${randomBytes(4).toString('hex')}:${this.claims++}`;
    const now = this.clock.now();
    const housekeeping = now - this.lastHousekeeping >= (this.options.housekeepingMs ?? DEFAULT_HOUSEKEEPING_MS) || (this.nextDueAt !== undefined && now >= this.nextDueAt);
    if (housekeeping) this.lastHousekeeping = now;
    const ingest = this.ingestMayHold;
    this.ingestMayHold = false;
    const [rows, deferred, nextDue] = (await claimScript.run(this.redis, {
      keys: {
        pending: k.pending(d), ingest: k.ingest(d), readyHigh: k.ready(d, 'high'), readyNormal: k.ready(d, 'normal'),
        readyLow: k.ready(d, 'low'), active: k.active(d), leases: k.leases(d), dead: k.dead(d), events: k.events(),
        logStream: k.logStream(), idCounter: k.idCounter(), delayed: k.delayed(d),
      },
      args: {
        count, agentId: this.options.agentId, leaseMs: this.options.leaseMs, keyPrefix: k.prefix, domain: d, drainMax: this.drainMax,
        defaultMaxAttempts: this.options.maxAttempts, nowIso: isoNow(this.clock), retentionS: this.retentionSeconds, tokenPrefix,
        graceMs: RAW_CLIENT_GRACE_MS, ...this.retryArgs, maxDepth: this.options.maxQueueDepth ?? 0, maxTaskBytes: this.taskLimits.maxTaskBytes,
        housekeeping: housekeeping ? '1' : '0', ingestMayHold: ingest ? '1' : '0',
        knownClients: this.options.clients === undefined ? '' : `,${[DEFAULT_CLIENT_ID, ...this.options.clients].join(',')},`,
      },
    })) as [[string, string, number, string, Priority][], number, number];
    // Refused input held for its client's result hash went back to the ingest list: read it next time.
    if (Number(deferred) > 0) this.ingestMayHold = true;
    return {
      tasks: rows.map(([taskId, raw, attempt, token, priority]) => ({ taskId, raw, attempt: Number(attempt), token, priority, domain: d })),
      deferred: Number(deferred),
      nextDueMs: this.nextDue(housekeeping, Number(nextDue), now),
    };
  }

  /**
   * Blocks until something arrives on `tasks:pending:{domain}` (or `timeoutMs` passes), moving it to
   * the ingest list atomically so a crash here loses nothing. Needs its own connection.
   */
  async waitForWork(blocking: Redis, timeoutMs: number): Promise<boolean> {
    const moved = await blocking.blmove(this.keys.pending(this.domain), this.keys.ingest(this.domain), 'RIGHT', 'LEFT', Math.max(timeoutMs, 10) / 1000);
    if (moved !== null) this.ingestMayHold = true;
    return moved !== null;
  }

  /** Ends a task. Returns false, writing nothing, when the lease was lost to another attempt. */
  async finish(task: ClaimedTask, input: FinishInput): Promise<boolean> {
    const { cost } = input;
    const childCost = cost?.childOutputs?.some((o) => typeof o['cost_total'] === 'object' && o['cost_total'] !== null) === true;
    let output = cost && childCost ? await withTaskCost(this.redis, this.keys, task.taskId, input.output, cost.childOutputs) : input.output;
    let done = await this.runFinish(task, input, output, cost && !childCost ? (cost.childOutputs ? 'own' : 'all') : '');
    if (done === 2) {
      output = await withTaskCost(this.redis, this.keys, task.taskId, output, cost?.childOutputs);
      done = await this.runFinish(task, input, output, '');
    }
    if (done === 1) await waitForReplicas(this.redis);
    return done === 1;
  }

  private runFinish(task: ClaimedTask, input: FinishInput, output: Record<string, unknown>, costCheck: '' | 'own' | 'all'): Promise<number> {
    // Scrubbed here, the one place results, their events and last log lines are written from.
    const scrub = scrubberNow();
    return this.finishes.finish(task.domain, {
      taskId: task.taskId, token: task.token, status: input.status, output: scrub.json(output),
      error: input.status === 'failed' ? scrub.text(oneLine(input.error ?? 'failed')) : '',
      logLine: input.logLine === undefined ? '' : scrub.text(oneLine(input.logLine)), costCheck, heldLines: input.heldLines ?? [],
    });
  }

  /** One finish script call for the ends of `domain` gathered in one turn (FinishBatcher). */
  private async finishBatch(domain: string, ends: readonly FinishEnd[]): Promise<(number | Error)[]> {
    const k = this.keys;
    const now = isoNow(this.clock);
    const rest: string[] = [];
    for (const e of ends) {
      rest.push(e.taskId, e.token, e.status, e.output, e.error, e.logLine === '' ? '' : `[${now}] ${e.logLine}`, e.costCheck, String(e.heldLines.length), ...e.heldLines);
    }
    return (await finishScript.run(this.redis, {
      keys: { active: k.active(domain), leases: k.leases(domain), events: k.events(), logStream: k.logStream() },
      args: { nowIso: now, retentionS: this.retentionSeconds, domain, agentId: this.options.agentId, keyPrefix: k.prefix },
      rest,
    })) as (number | Error)[];
  }

  /**
   * Ends this attempt with a failure that may pass: the task runs again after a backoff, or fails with
   * `reason` and its attempt history when it is out of attempts (`finalOutput` is then its output).
   */
  async retry(task: ClaimedTask, reason: string, finalOutput: Record<string, unknown>): Promise<'retrying' | 'failed' | 'lease_lost'> {
    const k = this.keys;
    const d = task.domain;
    const outcome = Number(await retryScript.run(this.redis, {
      keys: { task: k.task(task.taskId), active: k.active(d), leases: k.leases(d), delayed: k.delayed(d), events: k.events(), logStream: k.logStream() },
      args: {
        taskId: task.taskId, token: task.token, reason: scrubText(oneLine(reason)), finalOutput: scrubJson(finalOutput), nowIso: isoNow(this.clock),
        retentionS: this.retentionSeconds, domain: d, defaultMaxAttempts: this.options.maxAttempts, ...this.retryArgs, keyPrefix: k.prefix,
      },
    }));
    return outcome === 1 ? 'retrying' : outcome === 2 ? 'failed' : 'lease_lost';
  }

  /** Extends the leases of tasks still running here; returns the ids whose lease was lost. */
  async renew(tasks: ClaimedTask[]): Promise<string[]> {
    if (tasks.length === 0) return [];
    return (await renewScript.run(this.redis, {
      keys: { leases: this.keys.leases(this.domain), active: this.keys.active(this.domain) },
      args: { leaseMs: this.options.leaseMs, keyPrefix: this.keys.prefix, domain: this.domain },
      rest: tasks.flatMap((task) => [task.taskId, task.token]),
    })) as string[];
  }

  /** Hands back tasks whose lease lapsed; returns how many were requeued and failed. */
  reclaimExpired(reason = 'lease expired'): Promise<{ requeued: number; failed: number }> {
    return this.reclaim('expired', '', reason);
  }

  /** Hands back every task a dead agent held, without waiting for its leases to lapse. */
  reclaimOwnedBy(agentId: string, reason: string): Promise<{ requeued: number; failed: number }> {
    return this.reclaim('owner', agentId, reason);
  }

  private async reclaim(mode: 'expired' | 'owner', agentId: string, reason: string): Promise<{ requeued: number; failed: number }> {
    const k = this.keys;
    const d = this.domain;
    const [requeued, failed] = (await reclaimScript.run(this.redis, {
      keys: { leases: k.leases(d), active: k.active(d), delayed: k.delayed(d), events: k.events(), logStream: k.logStream() },
      args: {
        mode, agentId, nowIso: isoNow(this.clock), retentionS: this.retentionSeconds, domain: d, defaultMaxAttempts: this.options.maxAttempts,
        reason: scrubText(oneLine(reason)), ...this.retryArgs, keyPrefix: k.prefix,
      },
    })) as [number, number];
    return { requeued: Number(requeued), failed: Number(failed) };
  }

  /**
   * Moves everything waiting on this domain's pending queue to its dead-letter list with `reason`; a
   * task whose id is known fails with `code` (default `unknown_domain`: what a queue nobody serves means).
   */
  async deadLetterPending(reason: string, max = 1000, code: FailureCode = 'unknown_domain'): Promise<number> {
    const k = this.keys;
    const d = this.domain;
    return Number(await deadLetterQueueScript.run(this.redis, {
      keys: { pending: k.pending(d), dead: k.dead(d), events: k.events() },
      args: { reason: scrubText(oneLine(reason)), failureCode: code, nowIso: isoNow(this.clock), retentionS: this.retentionSeconds, domain: d, max, keyPrefix: k.prefix },
    }));
  }
}
