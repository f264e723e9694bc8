import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { sleep, systemClock } from '../clock.js';
import { DanError } from '../errors.js';
import { FailureCode } from '../protocol/failure.js';
import { withCacheReadShare } from '../protocol/cache-read-share.js';
import type { Logger } from '../logger.js';
import type { Keys } from '../redis/keys.js';
import type { ClaimedTask, TaskQueue } from '../redis/task-queue.js';
import { TaskLog } from './task-log.js';
import type { ApprovalGate } from './task-start.js';
import { startableTask } from './task-start.js';
import type { TaskHandler } from './task-handler.js';
import type { AbortReasonName, EndingDeps, InFlight } from './task-ending.js';
import { AbortReason, finishWithHeld, recordEnding } from './task-ending.js';

export type { TaskContext, TaskHandler } from './task-handler.js';
export { TaskFailedError } from './task-handler.js';

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
  /** The approval gate (`ApprovalGate`); absent: none. */
  approval?: ApprovalGate;
}

/** Handlers returning within this (moving average) let the loop claim ahead (`claimAhead`). */
const AHEAD_MAX_MS = 20;

/**
 * The loop every agent runs on its queue: claim up to its free slots, run each task under a lease
 * renewed at half its length and a timeout from `metadata.timeout_seconds` (bounded by a parent's
 * `metadata.deadline`), write the result, and block on the queue when there is nothing to do. A slot
 * is free again once its handler returns: the next claim goes out with the ends being written, and
 * while handlers are short one claim goes out ahead of the slots (`claimAhead`).
 *
 * How a task ends: completed; failed at once (bad input, a refused path, a timeout, cancellation, or any
 * error that is not `retryable`); or, for a retryable failure (the model API's 429/5xx, a crashed
 * worker), handed back to run again after a backoff until its attempts are spent.
 */
export class TaskConsumer {
  private readonly inFlight = new Map<string, InFlight>();
  /** Slots taken: tasks claimed whose handler has not returned (a task whose end is being written holds none). */
  private running = 0;
  /** Tasks claimed ahead (see `claimAhead`), each waiting for a slot; they are in `inFlight` too (leases renewed). */
  private readonly waiting: InFlight[] = [];
  /** How long handlers took of late (moving average, ms); undefined until one returned. */
  private recentMs: number | undefined;
  private readonly clock: Clock;
  private readonly endingDeps: EndingDeps & { approval?: ApprovalGate };
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
    const { redis, keys, queue, agentId, logger, retentionMs } = options;
    this.endingDeps = {
      redis, keys, queue, agentId, logger, clock: this.clock,
      ...(retentionMs === undefined ? {} : { retentionMs }), ...(options.approval ? { approval: options.approval } : {}),
    };
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
      const { concurrency } = this.options;
      // At most a slot's worth per claim: a claim ahead leaves as soon as the one before it is in.
      const free = Math.min(concurrency, concurrency + this.claimAhead() - this.running - this.waiting.length);
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        // Slots freed in the same turn (short tasks ending together) share one claim, written after
        // their ends: one round trip brings their ends and the next tasks.
        await new Promise<void>((resolve) => setImmediate(resolve));
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
        for (const task of claimed) this.admit(task);
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

  /**
   * How many tasks beyond its free slots the loop may claim: while handlers return within
   * AHEAD_MAX_MS, as many as it has slots. The next claim then leaves while the tasks just claimed run
   * and their ends are written, instead of after: Redis serves the one while this process works on the
   * other. Tasks claimed so wait for a slot here at most about that long, under a lease like any other.
   */
  private claimAhead(): number {
    return this.recentMs !== undefined && this.recentMs < AHEAD_MAX_MS ? this.options.concurrency : 0;
  }

  /** Takes a claimed task in: it runs now when a slot is free, or waits for one. */
  private admit(claimed: ClaimedTask): void {
    const { redis, keys, agentId, logger } = this.options;
    const log = new TaskLog(redis, keys, { taskId: claimed.taskId, agentId, domain: claimed.domain }, this.clock, logger);
    const entry: InFlight = { claimed, controller: new AbortController(), reason: undefined, released: false, startedAt: 0, log };
    this.inFlight.set(claimed.taskId, entry);
    this.options.onStatus?.('busy');
    if (this.running < this.options.concurrency) void this.run(entry);
    else this.waiting.push(entry);
  }

  private async run(entry: InFlight): Promise<void> {
    const { queue, logger, agentId } = this.options;
    const { claimed, controller } = entry;
    this.running += 1;
    const started = this.clock.now();
    entry.startedAt = started;
    let timer: NodeJS.Timeout | undefined;
    try {
      const startable = await startableTask(this.endingDeps, entry, started);
      if (!startable) return;
      const { task, deadline } = startable;
      // The claim script already wrote the 'claimed' line; the finish script writes the last one.
      timer = setTimeout(() => this.abort(entry, AbortReason.timeout), deadline - started);
      logger.debug({ taskId: task.taskId, domain: claimed.domain, attempt: claimed.attempt }, 'task started');
      let output: Record<string, unknown>;
      try {
        output = await this.options.handler({ task, claimed, signal: controller.signal, deadline, log: entry.log.log, held: entry.log, noteChildren: (outputs) => { entry.children = outputs; } });
        if (entry.reason) throw new DanError(FailureCode.aborted, entry.reason);
      } catch (error) {
        await recordEnding(this.endingDeps, entry, task, error, started, deadline);
        return;
      }
      const ms = this.clock.now() - started;
      // The worker is done: its slot takes the next task while this one's end is written.
      this.release(entry);
      const ok = await finishWithHeld(queue, entry, {
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
      void entry.log.flush();
      this.inFlight.delete(claimed.taskId);
      this.lastActivity = this.clock.now();
      if (this.inFlight.size === 0) this.options.onStatus?.('idle');
      this.release(entry);
    }
  }

  /** Gives a task's slot back (once), to a task waiting for one, or wakes the loop to claim. */
  private release(entry: InFlight): void {
    if (entry.released) return;
    entry.released = true;
    this.running -= 1;
    const ms = this.clock.now() - entry.startedAt;
    this.recentMs = this.recentMs === undefined ? ms : this.recentMs + (ms - this.recentMs) / 8;
    const next = this.waiting.shift();
    if (next) void this.run(next);
    this.slotFreed?.();
    this.slotFreed = undefined;
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
