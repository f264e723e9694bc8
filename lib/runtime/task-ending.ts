import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { toFailure } from '../errors.js';
import type { Logger } from '../logger.js';
import { failedOutput, FailureCode } from '../protocol/failure.js';
import { withCacheReadShare } from '../protocol/cache-read-share.js';
import type { Task } from '../protocol/task.js';
import type { Keys } from '../redis/keys.js';
import type { ClaimedTask, FinishInput, TaskQueue } from '../redis/task-queue.js';
import { cancelTask } from '../redis/cancel-task.js';
import { withTaskCost } from '../redis/cost-counters.js';
import { TaskFailedError } from './task-handler.js';
import type { TaskLog } from './task-log.js';

export const AbortReason = { timeout: 'timeout', cancelled: 'cancelled', leaseLost: 'lease_lost', shutdown: 'shutdown' } as const;
export type AbortReasonName = (typeof AbortReason)[keyof typeof AbortReason];

/** A task a consumer holds, from its claim until its end is written. */
export interface InFlight {
  claimed: ClaimedTask;
  controller: AbortController;
  reason: AbortReasonName | undefined;
  /** What the handler passed to `noteChildren`. */
  children?: readonly Record<string, unknown>[];
  /** Its slot was given back: the handler is done, only the end is still being written. */
  released: boolean;
  /** When its run began (clock ms); 0 while it waits for a slot. */
  startedAt: number;
  /** The task's log, with the lines its handler held. */
  log: TaskLog;
}

/** Ends the task with the log lines its handler held written first, in the same step; kept for later when its lease was lost. */
export async function finishWithHeld(queue: TaskQueue, entry: InFlight, input: FinishInput): Promise<boolean> {
  const held = entry.log.take();
  const ok = await queue.finish(entry.claimed, { ...input, heldLines: held });
  if (!ok) entry.log.restore(held);
  return ok;
}

/** What recording an ending needs of the consumer. */
export interface EndingDeps {
  redis: Redis;
  keys: Keys;
  queue: TaskQueue;
  agentId: string;
  logger: Logger;
  clock: Clock;
  /** Retention of results, for the sub-tasks cancelled when a parent times out. */
  retentionMs?: number;
}

/**
 * Records how a task that did not complete ended: failed, handed back for a retry, or left to others
 * (lost lease, shutdown, `dan cancel`, which wrote the result already).
 */
export async function recordEnding(deps: EndingDeps, entry: InFlight, task: Task, error: unknown, started: number, deadline: number): Promise<void> {
  const { queue, logger, agentId, clock } = deps;
  const { claimed } = entry;
  const reason = entry.reason;
  if (reason === AbortReason.leaseLost || reason === AbortReason.shutdown) {
    logger.warn({ taskId: task.taskId, reason }, 'task abandoned; another attempt will finish it');
    return;
  }
  if (reason === AbortReason.cancelled) {
    logger.info({ taskId: task.taskId, domain: claimed.domain }, 'task cancelled; its worker was stopped');
    await entry.log.log('cancelled; its work was stopped');
    return;
  }
  const ms = clock.now() - started;
  const failure = toFailure(error);
  const output = await withTaskCost(deps.redis, deps.keys, task.taskId, error instanceof TaskFailedError ? error.output : { error: failure.message }, entry.children);
  // The gateway noted a refused call: a worker that gave up on it (a Claude Code CLI says only "error") failed for its budget.
  if (hasBudgetRefusal(output) && (failure.code === FailureCode.workerFailed || failure.code === FailureCode.internal)) failure.code = FailureCode.budgetExceeded;
  if (reason === AbortReason.timeout) {
    const message = deadline < started + task.timeoutSeconds * 1000
      ? `timed out: its parent's deadline ${new Date(deadline).toISOString()} passed`
      : `timed out after ${task.timeoutSeconds} s`;
    const ok = await finishWithHeld(queue, entry, { status: 'failed', output: failedOutput({ ...output, error: message }, FailureCode.timedOut), error: message, logLine: `${agentId}: ${message}; its worker was stopped` });
    logger.warn({ taskId: task.taskId, domain: claimed.domain, written: ok }, 'task timed out');
    await cancelChildren(deps, task.taskId, `cancelled: parent ${task.taskId} timed out`);
    return;
  }
  if (failure.retryable) {
    // The held lines go first (sent ahead on the same connection): the retry script writes a line of its own.
    void entry.log.flush();
    const outcome = await queue.retry(claimed, `${failure.code}: ${failure.message}`, failedOutput(output, failure.code, true));
    logger.warn({ taskId: task.taskId, domain: claimed.domain, err: failure.message, outcome }, 'task failed with a retryable error');
    return;
  }
  const ok = await finishWithHeld(queue, entry, { status: 'failed', output: failedOutput(withCacheReadShare(output), failure.code), error: failure.message, logLine: `${agentId}: failed after ${ms} ms: ${failure.message}` });
  logger.warn({ taskId: task.taskId, domain: claimed.domain, err: failure.message, written: ok }, 'task failed');
}

/** Ends the sub-tasks a task queued that are still running or waiting. */
async function cancelChildren(deps: EndingDeps, taskId: string, error: string): Promise<void> {
  const { redis, keys, agentId, logger } = deps;
  try {
    for (const child of await redis.smembers(keys.children(taskId))) {
      await cancelTask(redis, keys, child, { by: agentId, error, reason: error, retentionMs: deps.retentionMs ?? 7 * 24 * 3600 * 1000, clock: deps.clock });
    }
  } catch (e) {
    logger.warn({ taskId, err: (e as Error).message }, 'could not cancel the sub-tasks of a timed-out task; their own deadlines end them');
  }
}

/** Whether a result's own cost says a model call was refused for a spent budget. */
function hasBudgetRefusal(output: Record<string, unknown>): boolean {
  const cost = output['cost'];
  return typeof cost === 'object' && cost !== null && 'budget_exceeded' in cost;
}
