import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { sleep, systemClock } from '../clock.js';
import { DanError, toFailure } from '../errors.js';
import { failedOutput, FailureCode } from '../protocol/failure.js';
import { withCacheReadShare } from '../protocol/cache-read-share.js';
import type { Logger } from '../logger.js';
import type { Task } from '../protocol/task.js';
import { parseTask } from '../protocol/task.js';
import type { Keys } from '../redis/keys.js';
import type { ClaimedTask, FinishInput, TaskQueue } from '../redis/task-queue.js';
import { cancelTask } from '../redis/task-queue.js';
import type { HeldLogLines } from './task-log.js';
import { TaskLog } from './task-log.js';
import type { ApprovalRouteStep } from '../protocol/approval.js';
import { approvalPlan, approvalWindowMs } from '../protocol/approval.js';
import { isApproved, parkForApproval } from '../redis/approvals.js';
import { withDependencyResults } from '../redis/task-dependencies.js';
import { withTaskCost } from '../redis/cost-counters.js';

/** What a handler gets for one task. `signal` fires on timeout, cancellation, lost lease and shutdown. */
export interface TaskContext {
  task: Task;
  claimed: ClaimedTask;
  signal: AbortSignal;
  /** When (ms since the epoch) this attempt times out: its own timeout or its parent's deadline. */
  deadline: number;
  log(message: string): Promise<void>;
  /**
   * Lines held for the next script that writes this task's log anyway (a sub-task's submit, this task's
   * finish), a round trip less each; `log` writes the held ones first, and what is still held when the
   * task ends on a path that carries none is written then.
   */
  held?: HeldLogLines;
  /**
   * The outputs of every sub-task this task queued, once the handler has read them all: the cost read at
   * the task's end then adds their `cost_total` from these instead of reading the sub-tasks again.
   */
  noteChildren?(outputs: readonly Record<string, unknown>[]): void;
}

export type TaskHandler = (ctx: TaskContext) => Promise<Record<string, unknown>>;

/** A handler failure that still carries an output (a parent with its children's statuses). */
export class TaskFailedError extends DanError {
  constructor(message: string, readonly output: Record<string, unknown>, code: FailureCode, options: { retryable?: boolean } = {}) {
    super(code, message, { retryable: options.retryable ?? false });
    this.name = 'TaskFailedError';
  }
}

const AbortReason = { timeout: 'timeout', cancelled: 'cancelled', leaseLost: 'lease_lost', shutdown: 'shutdown' } as const;
type AbortReasonName = (typeof AbortReason)[keyof typeof AbortReason];

interface InFlight {
  claimed: ClaimedTask;
  controller: AbortController;
  reason: AbortReasonName | undefined;
  /** What the handler passed to `noteChildren`. */
  children?: readonly Record<string, unknown>[];
  /** The task's log, with the lines its handler held. */
  log: TaskLog;
}

export interface TaskConsumerOptions {
  redis: Redis;
  /** A dedicated connection for the blocking wait. */
  blocking: Redis;
  keys: Keys;
  queue: TaskQueue;
  agentId: string;
  concurrency: number;
  leaseMs: number;
  handler: TaskHandler;
  logger: Logger;
  clock?: Clock;
  /** Stop after this long with nothing to do (0: never). */
  idleMs?: number;
  /** How long one blocking wait lasts before the loop looks around again. */
  pollMs?: number;
  /** A subscriber connection: when given, a task cancelled with `dan cancel` aborts its worker at once. */
  subscriber?: Redis;
  /** Retention of results, for the sub-tasks cancelled when a parent times out. */
  retentionMs?: number;
  /** Busy/idle changes, for the registry status. */
  onStatus?: (status: 'idle' | 'busy') => void;
  /**
   * The approval gate: a task `required` says needs a person's yes, and has none yet, is parked
   * (lib/redis/approvals.ts) before its handler runs, for its window (default `windowMs`). `route`, when
   * given, makes the plan of sub-tasks the approver sees (main's routing). Absent: no gate.
   */
  approval?: { required: (task: Task) => boolean; windowMs: number; route?: (task: Task, signal: AbortSignal) => Promise<ApprovalRouteStep[]> };
}

/**
 * The loop every agent runs on its queue: claim up to its free slots, run each task under a lease
 * renewed at half its length and a timeout from `metadata.timeout_seconds` (bounded by a parent's
 * `metadata.deadline`), write the result, and block on the queue when there is nothing to do.
 *
 * How a task ends: completed; failed at once (bad input, a refused path, a timeout, cancellation, or any
 * error that is not `retryable`); or, for a retryable failure (the model API's 429/5xx, a crashed
 * worker), handed back to run again after a backoff until its attempts are spent.
 */
export class TaskConsumer {
  private readonly inFlight = new Map<string, InFlight>();
  private readonly clock: Clock;
  private stopping = false;
  private lastActivity: number;
  private slotFreed: (() => void) | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private loopDone: Promise<'idle' | 'stopped'> | undefined;
  private readonly onCancel = (channel: string, taskId: string): void => {
    if (channel !== this.options.keys.cancelChannel()) return;
    const entry = this.inFlight.get(taskId);
    if (entry) this.abort(entry, AbortReason.cancelled);
  };

  constructor(private readonly options: TaskConsumerOptions) {
    this.clock = options.clock ?? systemClock;
    this.lastActivity = this.clock.now();
  }

  get busy(): number {
    return this.inFlight.size;
  }

  /** Starts the loop; the promise resolves with why it ended. */
  start(): Promise<'idle' | 'stopped'> {
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(50, Math.floor(this.options.leaseMs / 2)));
    this.renewTimer.unref();
    const { subscriber } = this.options;
    if (subscriber) {
      subscriber.on('message', this.onCancel);
      subscriber.subscribe(this.options.keys.cancelChannel()).catch((error: Error) =>
        this.options.logger.warn({ err: error.message }, 'could not subscribe to cancellations; a cancelled task stops at its next lease renewal'));
    }
    this.loopDone = this.loop();
    return this.loopDone;
  }

  private async loop(): Promise<'idle' | 'stopped'> {
    const { queue, logger } = this.options;
    const pollMs = this.options.pollMs ?? 2_000;
    while (!this.stopping) {
      const free = this.options.concurrency - this.inFlight.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      let claimed: ClaimedTask[];
      let deferred = 0;
      let nextDueMs: number | undefined;
      try {
        ({ tasks: claimed, deferred, nextDueMs } = await queue.claimBatch(free));
      } catch (error) {
        if (this.stopping) break;
        logger.warn({ err: (error as Error).message, domain: queue.domain }, 'claim failed; retrying');
        await sleep(1_000);
        continue;
      }
      if (claimed.length > 0) {
        this.lastActivity = this.clock.now();
        for (const task of claimed) void this.run(task);
        // Fewer than asked and none held back: the ready lists are empty, so asking again now would
        // only cost a script run. Wait on the pending queue instead (new work arrives there).
        if (claimed.length === free || deferred > 0) continue;
      }
      if (deferred > 0 && claimed.length === 0) {
        // A task waits for its client's result hash: look again soon rather than block.
        await sleep(50);
        continue;
      }
      const idleMs = this.options.idleMs ?? 0;
      if (idleMs > 0 && this.inFlight.size === 0 && this.clock.now() - this.lastActivity >= idleMs) return 'idle';
      // A delayed retry coming due is work too: wake up for it.
      const waitMs = Math.min(idleMs > 0 ? Math.min(pollMs, idleMs) : pollMs, nextDueMs === undefined ? Infinity : nextDueMs + 5);
      try {
        await queue.waitForWork(this.options.blocking, waitMs);
      } catch (error) {
        if (this.stopping) break;
        logger.warn({ err: (error as Error).message, domain: queue.domain }, 'waiting for work failed; retrying');
        await sleep(1_000);
      }
    }
    return 'stopped';
  }

  private async run(claimed: ClaimedTask): Promise<void> {
    const { queue, logger, agentId } = this.options;
    const controller = new AbortController();
    const taskLog = new TaskLog(this.options.redis, this.options.keys, { taskId: claimed.taskId, agentId, domain: claimed.domain }, this.clock, logger);
    const entry: InFlight = { claimed, controller, reason: undefined, log: taskLog };
    this.inFlight.set(claimed.taskId, entry);
    this.options.onStatus?.('busy');
    const started = this.clock.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const parsed = parseTask(claimed.raw, claimed.taskId, queue.taskLimits);
      if (parsed.kind !== 'ok') {
        logger.warn({ taskId: claimed.taskId, domain: claimed.domain, reason: parsed.reason }, 'task rejected');
        await queue.finish(claimed, { status: 'failed', output: failedOutput({ error: parsed.reason }, FailureCode.invalidTask), error: parsed.reason, logLine: `${agentId}: rejected: ${parsed.reason}` });
        return;
      }
      const task = parsed.task;
      // A task that waited on others gets their summaries, files and branches; one pushed straight to a queue with depends_on is refused.
      const unreleased = await withDependencyResults(this.options.redis, this.options.keys, task);
      if (unreleased !== undefined) {
        await queue.finish(claimed, { status: 'failed', output: failedOutput({ error: unreleased }, FailureCode.invalidTask), error: unreleased, logLine: `${agentId}: rejected: ${unreleased}` });
        return;
      }
      if (await this.parkedForApproval(task, claimed, controller.signal)) return;
      const deadline = Math.min(started + task.timeoutSeconds * 1000, task.deadlineMs ?? Infinity);
      if (deadline <= started) {
        const message = task.deadlineMs === undefined || task.deadlineMs > started + task.timeoutSeconds * 1000
          ? `its timeout of ${task.timeoutSeconds} s is too short to start it; give metadata.timeout_seconds of at least 1`
          : `its deadline ${new Date(task.deadlineMs).toISOString()} (from its parent's timeout) passed before it started`;
        await queue.finish(claimed, { status: 'failed', output: failedOutput({ error: message }, FailureCode.timedOut), error: message, logLine: `${agentId}: not started: ${message}` });
        logger.warn({ taskId: task.taskId, domain: claimed.domain }, 'task not started: deadline passed');
        return;
      }
      // The claim script already wrote the 'claimed' line; the finish script writes the last one.
      timer = setTimeout(() => this.abort(entry, AbortReason.timeout), deadline - started);
      logger.debug({ taskId: task.taskId, domain: claimed.domain, attempt: claimed.attempt }, 'task started');
      let output: Record<string, unknown>;
      try {
        output = await this.options.handler({ task, claimed, signal: controller.signal, deadline, log: taskLog.log, held: taskLog, noteChildren: (outputs) => { entry.children = outputs; } });
        if (entry.reason) throw new DanError(FailureCode.aborted, entry.reason);
      } catch (error) {
        await this.ended(entry, task, error, started, deadline);
        return;
      }
      const ms = this.clock.now() - started;
      const ok = await this.finish(entry, {
        status: 'completed', output: withCacheReadShare(output), logLine: `${agentId}: completed in ${ms} ms`,
        cost: entry.children ? { childOutputs: entry.children } : {},
      });
      // Debug: the task's own log already says it ("completed in N ms"), and a busy domain ends thousands a second.
      if (ok) logger.debug({ taskId: task.taskId, domain: claimed.domain, ms }, 'task completed');
      else if (entry.reason === AbortReason.cancelled) logger.info({ taskId: task.taskId }, 'task was cancelled as it completed; the cancellation stands');
      else logger.warn({ taskId: task.taskId }, 'lease was lost before the result was written; another attempt owns it');
    } catch (error) {
      logger.error({ taskId: claimed.taskId, err: (error as Error).message }, 'could not record the end of a task; its lease will lapse and it will run again');
    } finally {
      if (timer) clearTimeout(timer);
      // Not awaited (it never throws): the lines go out on the connection in order, and a slot is not
      // held for them while Redis is away.
      void taskLog.flush();
      this.inFlight.delete(claimed.taskId);
      this.lastActivity = this.clock.now();
      if (this.inFlight.size === 0) this.options.onStatus?.('idle');
      this.slotFreed?.();
      this.slotFreed = undefined;
    }
  }

  /** Parks the task for approval when it needs one it does not have yet; true when it was parked (or lost meanwhile). */
  private async parkedForApproval(task: Task, claimed: ClaimedTask, signal: AbortSignal): Promise<boolean> {
    const { approval, redis, keys, agentId, logger } = this.options;
    if (!approval?.required(task) || await isApproved(redis, keys, task.taskId)) return false;
    const route = approval.route ? await approval.route(task, signal) : undefined;
    const until = await parkForApproval(redis, keys, claimed, {
      plan: approvalPlan(task, claimed.domain, route), windowMs: approvalWindowMs(task, approval.windowMs), agentId, clock: this.clock,
    });
    logger.info({ taskId: task.taskId, domain: claimed.domain, until, parked: until !== undefined }, 'task awaits approval');
    return true;
  }

  /** Records how a task that did not complete ended: failed, handed back for a retry, or left to others. */
  private async ended(entry: InFlight, task: Task, error: unknown, started: number, deadline: number): Promise<void> {
    const { queue, logger, agentId } = this.options;
    const { claimed } = entry;
    const reason = entry.reason;
    if (reason === AbortReason.leaseLost || reason === AbortReason.shutdown) {
      logger.warn({ taskId: task.taskId, reason }, 'task abandoned; another attempt will finish it');
      return;
    }
    if (reason === AbortReason.cancelled) {
      // `dan cancel` already wrote the result; the worker has been stopped.
      logger.info({ taskId: task.taskId, domain: claimed.domain }, 'task cancelled; its worker was stopped');
      await entry.log.log('cancelled; its work was stopped');
      return;
    }
    const ms = this.clock.now() - started;
    const failure = toFailure(error);
    const output = await withTaskCost(this.options.redis, this.options.keys, task.taskId, error instanceof TaskFailedError ? error.output : { error: failure.message }, entry.children);
    // The gateway noted a refused call: a worker that gave up on it (a Claude Code CLI says only "error") failed for its budget.
    if (hasBudgetRefusal(output) && (failure.code === FailureCode.workerFailed || failure.code === FailureCode.internal)) failure.code = FailureCode.budgetExceeded;
    if (reason === AbortReason.timeout) {
      const message = deadline < started + task.timeoutSeconds * 1000
        ? `timed out: its parent's deadline ${new Date(deadline).toISOString()} passed`
        : `timed out after ${task.timeoutSeconds} s`;
      const ok = await this.finish(entry, { status: 'failed', output: failedOutput({ ...output, error: message }, FailureCode.timedOut), error: message, logLine: `${agentId}: ${message}; its worker was stopped` });
      logger.warn({ taskId: task.taskId, domain: claimed.domain, written: ok }, 'task timed out');
      await this.cancelChildren(task.taskId, `cancelled: parent ${task.taskId} timed out`);
      return;
    }
    if (failure.retryable) {
      // The held lines go first (sent ahead on the same connection): the retry script writes a line of its own.
      void entry.log.flush();
      const outcome = await queue.retry(claimed, `${failure.code}: ${failure.message}`, failedOutput(output, failure.code, true));
      logger.warn({ taskId: task.taskId, domain: claimed.domain, err: failure.message, outcome }, 'task failed with a retryable error');
      return;
    }
    const ok = await this.finish(entry, { status: 'failed', output: failedOutput(withCacheReadShare(output), failure.code), error: failure.message, logLine: `${agentId}: failed after ${ms} ms: ${failure.message}` });
    logger.warn({ taskId: task.taskId, domain: claimed.domain, err: failure.message, written: ok }, 'task failed');
  }

  /** Ends the task with the log lines its handler held written first, in the same step; kept for later when its lease was lost. */
  private async finish(entry: InFlight, input: FinishInput): Promise<boolean> {
    const held = entry.log.take();
    const ok = await this.options.queue.finish(entry.claimed, { ...input, heldLines: held });
    if (!ok) entry.log.restore(held);
    return ok;
  }

  /** Ends the sub-tasks a task queued that are still running or waiting. */
  private async cancelChildren(taskId: string, error: string): Promise<void> {
    const { redis, keys, agentId, logger } = this.options;
    try {
      for (const child of await redis.smembers(keys.children(taskId))) {
        await cancelTask(redis, keys, child, { by: agentId, error, reason: error, retentionMs: this.options.retentionMs ?? 7 * 24 * 3600 * 1000, clock: this.clock });
      }
    } catch (e) {
      logger.warn({ taskId, err: (e as Error).message }, 'could not cancel the sub-tasks of a timed-out task; their own deadlines end them');
    }
  }

  private abort(entry: InFlight, reason: AbortReasonName): void {
    if (entry.reason) return;
    entry.reason = reason;
    const code = reason === AbortReason.timeout ? FailureCode.timedOut : reason === AbortReason.cancelled ? FailureCode.cancelled : FailureCode.aborted;
    entry.controller.abort(new DanError(code, `task ${reason.replace('_', ' ')}`));
  }

  private async renewLeases(): Promise<void> {
    const held = [...this.inFlight.values()];
    if (held.length === 0) return;
    try {
      const lost = new Set(await this.options.queue.renew(held.map((h) => h.claimed)));
      for (const h of held) if (lost.has(h.claimed.taskId)) this.abort(h, AbortReason.leaseLost);
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 'lease renewal failed; will retry');
    }
  }

  /**
   * Stops taking work, lets running tasks finish for up to `graceMs`, then aborts the rest and hands
   * them back to the queue so another agent runs them. Resolves with the ids of the tasks it could not
   * hand back (Redis unreachable): their leases lapse and the supervisor requeues them later.
   */
  async stop(graceMs: number): Promise<string[]> {
    this.stopping = true;
    this.slotFreed?.();
    this.options.blocking.disconnect();
    const deadline = this.clock.now() + graceMs;
    while (this.inFlight.size > 0 && this.clock.now() < deadline) await sleep(50);
    const left = [...this.inFlight.values()];
    for (const entry of left) this.abort(entry, AbortReason.shutdown);
    let notHandedBack: string[] = [];
    // Redis gone: a hand-back would wait out its retries for nothing; the leases lapse and the
    // supervisor requeues these tasks once Redis is back.
    if (left.length > 0 && this.options.redis.status !== 'ready') notHandedBack = left.map((entry) => entry.claimed.taskId);
    else if (left.length > 0) {
      await this.options.queue.reclaimOwnedBy(this.options.agentId, `agent ${this.options.agentId} shut down`)
        .catch(() => { notHandedBack = left.map((entry) => entry.claimed.taskId); });
    }
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.options.subscriber?.off('message', this.onCancel);
    await this.loopDone;
    return notHandedBack;
  }
}

/** Whether a result's own cost says a model call was refused for a spent budget. */
function hasBudgetRefusal(output: Record<string, unknown>): boolean {
  const cost = output['cost'];
  return typeof cost === 'object' && cost !== null && 'budget_exceeded' in cost;
}
