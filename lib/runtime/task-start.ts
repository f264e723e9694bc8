import { DanError } from '../errors.js';
import { failedOutput, FailureCode } from '../protocol/failure.js';
import type { ApprovalRouteStep } from '../protocol/approval.js';
import { approvalPlan, approvalWindowMs } from '../protocol/approval.js';
import type { Task } from '../protocol/task.js';
import { parseTask } from '../protocol/task.js';
import { isApproved, parkForApproval } from '../redis/approvals.js';
import { withDependencyResults } from '../redis/task-dependencies.js';
import type { EndingDeps, InFlight } from './task-ending.js';
import { recordEnding } from './task-ending.js';

/**
 * The approval gate: a task `required` says needs a person's yes, and has none yet, is parked
 * (lib/redis/approvals.ts) before its handler runs, for its window (default `windowMs`). `route`, when
 * given, makes the plan of sub-tasks the approver sees (main's routing).
 */
export interface ApprovalGate {
  required: (task: Task) => boolean;
  windowMs: number;
  route?: (task: Task, signal: AbortSignal) => Promise<ApprovalRouteStep[]>;
}

/**
 * What is looked at before a claimed task's handler runs, `started` being now: its text, an abort while
 * it waited for a slot, the tasks it depends on, the approval gate and its deadline. Returns the task and
 * its deadline, or undefined when it does not run (its end, or its parking, is written here).
 */
export async function startableTask(deps: EndingDeps & { approval?: ApprovalGate }, entry: InFlight, started: number): Promise<{ task: Task; deadline: number } | undefined> {
  const { queue, logger, agentId } = deps;
  const { claimed } = entry;
  const parsed = parseTask(claimed.raw, claimed.taskId, queue.taskLimits);
  if (parsed.kind !== 'ok') {
    logger.warn({ taskId: claimed.taskId, domain: claimed.domain, reason: parsed.reason }, 'task rejected');
    await queue.finish(claimed, { status: 'failed', output: failedOutput({ error: parsed.reason }, FailureCode.invalidTask), error: parsed.reason, logLine: `${agentId}: rejected: ${parsed.reason}` });
    return undefined;
  }
  const task = parsed.task;
  if (entry.reason) {
    // Cancelled or its lease lost while it waited for a slot: it never starts.
    await recordEnding(deps, entry, task, new DanError(FailureCode.aborted, entry.reason), started, started);
    return undefined;
  }
  // A task that waited on others gets their summaries, files and branches; one pushed straight to a queue with depends_on is refused.
  const unreleased = await withDependencyResults(deps.redis, deps.keys, task);
  if (unreleased !== undefined) {
    await queue.finish(claimed, { status: 'failed', output: failedOutput({ error: unreleased }, FailureCode.invalidTask), error: unreleased, logLine: `${agentId}: rejected: ${unreleased}` });
    return undefined;
  }
  if (await parkedForApproval(deps, task, entry)) return undefined;
  const deadline = Math.min(started + task.timeoutSeconds * 1000, task.deadlineMs ?? Infinity);
  if (deadline <= started) {
    const message = task.deadlineMs === undefined || task.deadlineMs > started + task.timeoutSeconds * 1000
      ? `its timeout of ${task.timeoutSeconds} s is too short to start it; give metadata.timeout_seconds of at least 1`
      : `its deadline ${new Date(task.deadlineMs).toISOString()} (from its parent's timeout) passed before it started`;
    await queue.finish(claimed, { status: 'failed', output: failedOutput({ error: message }, FailureCode.timedOut), error: message, logLine: `${agentId}: not started: ${message}` });
    logger.warn({ taskId: task.taskId, domain: claimed.domain }, 'task not started: deadline passed');
    return undefined;
  }
  return { task, deadline };
}

/** Parks the task for approval when it needs one it does not have yet; true when it was parked (or lost meanwhile). */
async function parkedForApproval(deps: EndingDeps & { approval?: ApprovalGate }, task: Task, entry: InFlight): Promise<boolean> {
  const { approval, redis, keys, agentId, logger } = deps;
  if (!approval?.required(task) || await isApproved(redis, keys, task.taskId)) return false;
  const { claimed } = entry;
  const route = approval.route ? await approval.route(task, entry.controller.signal) : undefined;
  const until = await parkForApproval(redis, keys, claimed, {
    plan: approvalPlan(task, claimed.domain, route), windowMs: approvalWindowMs(task, approval.windowMs), agentId, clock: deps.clock,
  });
  logger.info({ taskId: task.taskId, domain: claimed.domain, until, parked: until !== undefined }, 'task awaits approval');
  return true;
}
