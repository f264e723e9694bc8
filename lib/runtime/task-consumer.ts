import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { sleep, systemClock } from '../clock.js';
import { DanError, toFailure } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Task } from '../protocol/task.js';
import { parseTask } from '../protocol/task.js';
import type { Keys } from '../redis/keys.js';
import type { ClaimedTask, TaskQueue } from '../redis/task-queue.js';
import { appendLog } from '../redis/task-store.js';

/** What a handler gets for one task. `signal` fires on timeout, lost lease and shutdown. */
export interface TaskContext {
  task: Task;
  claimed: ClaimedTask;
  signal: AbortSignal;
  log(message: string): Promise<void>;
}

export type TaskHandler = (ctx: TaskContext) => Promise<Record<string, unknown>>;

/** A handler failure that still carries an output (a parent with its children's statuses). */
export class TaskFailedError extends DanError {
  constructor(message: string, readonly output: Record<string, unknown>, code = 'task_failed') {
    super(code, message);
    this.name = 'TaskFailedError';
  }
}

const AbortReason = { timeout: 'timeout', leaseLost: 'lease_lost', shutdown: 'shutdown' } as const;
type AbortReasonName = (typeof AbortReason)[keyof typeof AbortReason];

interface InFlight {
  claimed: ClaimedTask;
  controller: AbortController;
  reason: AbortReasonName | undefined;
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
  /** Busy/idle changes, for the registry status. */
  onStatus?: (status: 'idle' | 'busy') => void;
}

/**
 * The loop every agent runs on its queue: claim up to its free slots, run each task under a lease
 * renewed at half its length and a timeout from `metadata.timeout_seconds`, write the result, and
 * block on the queue when there is nothing to do.
 */
export class TaskConsumer {
  private readonly inFlight = new Map<string, InFlight>();
  private readonly clock: Clock;
  private stopping = false;
  private lastActivity: number;
  private slotFreed: (() => void) | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private loopDone: Promise<'idle' | 'stopped'> | undefined;

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
      try {
        ({ tasks: claimed, deferred } = await queue.claimBatch(free));
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
      try {
        await queue.waitForWork(this.options.blocking, idleMs > 0 ? Math.min(pollMs, idleMs) : pollMs);
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
    const entry: InFlight = { claimed, controller, reason: undefined };
    this.inFlight.set(claimed.taskId, entry);
    this.options.onStatus?.('busy');
    const started = this.clock.now();
    const log = (message: string) =>
      appendLog(this.options.redis, this.options.keys, { taskId: claimed.taskId, agentId, domain: claimed.domain, message }, this.clock)
        .catch((error: Error) => logger.warn({ taskId: claimed.taskId, err: error.message }, 'could not write a task log line'));
    let timer: NodeJS.Timeout | undefined;
    try {
      const parsed = parseTask(claimed.raw, claimed.taskId);
      if (parsed.kind !== 'ok') {
        logger.warn({ taskId: claimed.taskId, domain: claimed.domain, reason: parsed.reason }, 'task rejected');
        await queue.finish(claimed, { status: 'failed', output: { error: parsed.reason }, error: parsed.reason, logLine: `${agentId}: rejected: ${parsed.reason}` });
        return;
      }
      const task = parsed.task;
      // The claim script already wrote the 'claimed' line; the finish script writes the last one.
      timer = setTimeout(() => this.abort(entry, AbortReason.timeout), task.timeoutSeconds * 1000);
      logger.info({ taskId: task.taskId, domain: claimed.domain, attempt: claimed.attempt }, 'task started');
      let output: Record<string, unknown>;
      try {
        output = await this.options.handler({ task, claimed, signal: controller.signal, log });
        if (entry.reason) throw new DanError('aborted', entry.reason);
      } catch (error) {
        const reason = entry.reason;
        if (reason === AbortReason.leaseLost || reason === AbortReason.shutdown) {
          logger.warn({ taskId: task.taskId, reason }, 'task abandoned; another attempt will finish it');
          return;
        }
        const message = reason === AbortReason.timeout ? `timed out after ${task.timeoutSeconds} s` : toFailure(error).message;
        const failureOutput = error instanceof TaskFailedError ? error.output : { error: message };
        const ms = this.clock.now() - started;
        const ok = await queue.finish(claimed, { status: 'failed', output: failureOutput, error: message, logLine: `${agentId}: failed after ${ms} ms: ${message}` });
        logger.warn({ taskId: task.taskId, domain: claimed.domain, err: message, written: ok }, 'task failed');
        return;
      }
      const ms = this.clock.now() - started;
      const ok = await queue.finish(claimed, { status: 'completed', output, logLine: `${agentId}: completed in ${ms} ms` });
      if (ok) logger.info({ taskId: task.taskId, domain: claimed.domain, ms }, 'task completed');
      else logger.warn({ taskId: task.taskId }, 'lease was lost before the result was written; another attempt owns it');
    } catch (error) {
      logger.error({ taskId: claimed.taskId, err: (error as Error).message }, 'could not record the end of a task; its lease will lapse and it will run again');
    } finally {
      if (timer) clearTimeout(timer);
      this.inFlight.delete(claimed.taskId);
      this.lastActivity = this.clock.now();
      if (this.inFlight.size === 0) this.options.onStatus?.('idle');
      this.slotFreed?.();
      this.slotFreed = undefined;
    }
  }

  private abort(entry: InFlight, reason: AbortReasonName): void {
    if (entry.reason) return;
    entry.reason = reason;
    entry.controller.abort(new DanError(reason === 'timeout' ? 'timeout' : 'aborted', `task ${reason.replace('_', ' ')}`));
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
   * them back to the queue so another agent runs them.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.slotFreed?.();
    this.options.blocking.disconnect();
    const deadline = this.clock.now() + graceMs;
    while (this.inFlight.size > 0 && this.clock.now() < deadline) await sleep(50);
    const left = [...this.inFlight.values()];
    for (const entry of left) this.abort(entry, AbortReason.shutdown);
    if (left.length > 0) {
      await this.options.queue.reclaimOwnedBy(this.options.agentId, `agent ${this.options.agentId} shut down`).catch(() => undefined);
    }
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.loopDone;
  }
}
