import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { isoNow, systemClock } from '../clock.js';
import { oneLine } from '../errors.js';
import { scrubText } from '../scrub.js';
import type { ApprovalPlan } from '../protocol/approval.js';
import type { Keys } from './keys.js';
import type { ClaimedTask } from './task-queue.js';
import { approvalDecideScript, approvalExpireScript, approvalParkScript } from './lua/approval-scripts.js';

/**
 * The approval gate. A task that needs a person's yes is claimed as any other; before its handler runs,
 * its agent parks it (`parkForApproval`): lease, active entry and attempt record go, the result says
 * `awaiting_approval` with its plan, and the task text waits in `dan:approvals:tasks` with its window's
 * end in `dan:approvals`. Nothing is held by any agent while it waits, so it survives agent kills and,
 * with an append-only Redis, Redis restarts. `decideApproval` queues it again (approved: its next claim
 * runs it) or fails it `rejected`; `expireApprovals` (main's supervise loop) fails the ones whose window
 * passed with `approval_timeout`.
 */

export type ApprovalDecision = 'approve' | 'reject';

export type ApprovalOutcome =
  | { kind: 'approved' | 'rejected'; taskId: string }
  | { kind: 'not_waiting'; taskId: string; status: string }
  | { kind: 'not_found'; taskId: string };

/** Whether the task's result says a person already approved it (its next claim runs it). */
export async function isApproved(redis: Redis, keys: Keys, taskId: string): Promise<boolean> {
  return (await redis.hget(keys.result(taskId), 'approval')) === 'approved';
}

/**
 * Parks a claimed task until a person decides, for `windowMs` at most. Returns when the window ends
 * (ISO), or undefined when the lease was lost meanwhile (another attempt owns the task; nothing written).
 */
export async function parkForApproval(
  redis: Redis, keys: Keys, claimed: ClaimedTask,
  options: { plan: ApprovalPlan; windowMs: number; agentId: string; retentionMs?: number; clock?: Clock },
): Promise<string | undefined> {
  const now = isoNow(options.clock ?? systemClock);
  const [parked, untilMs] = (await approvalParkScript.run(redis, {
    keys: {
      task: keys.task(claimed.taskId), active: keys.active(claimed.domain), leases: keys.leases(claimed.domain), result: keys.result(claimed.taskId),
      approvals: keys.approvals(), approvalTasks: keys.approvalTasks(), events: keys.events(), logStream: keys.logStream(),
    },
    args: {
      taskId: claimed.taskId, token: claimed.token, windowMs: options.windowMs, plan: JSON.stringify(options.plan), nowIso: now,
      domain: claimed.domain, priority: claimed.priority, agentId: options.agentId, keyPrefix: keys.prefix,
      logLine: `[${now}] ${options.agentId}: awaiting approval before its work starts (dan approve ${claimed.taskId} / dan reject ${claimed.taskId} --reason ...)`,
    },
  })) as [number, number?];
  return Number(parked) === 1 ? new Date(Number(untilMs)).toISOString() : undefined;
}

/** Approves or rejects a task awaiting approval; `by` names who decided, for its log and result. */
export async function decideApproval(
  redis: Redis, keys: Keys, taskId: string,
  options: { decision: ApprovalDecision; by: string; reason?: string; retentionMs: number; clock?: Clock },
): Promise<ApprovalOutcome> {
  const now = isoNow(options.clock ?? systemClock);
  const reason = options.reason ? scrubText(oneLine(options.reason)).slice(0, 1000) : '';
  const by = scrubText(oneLine(options.by)).slice(0, 200);
  const verb = options.decision === 'approve' ? 'approved' : 'rejected';
  const reply = (await approvalDecideScript.run(redis, {
    keys: { result: keys.result(taskId), approvals: keys.approvals(), approvalTasks: keys.approvalTasks(), events: keys.events(), logStream: keys.logStream() },
    args: {
      taskId, decision: options.decision, by, reason, nowIso: now, retentionS: Math.ceil(options.retentionMs / 1000), keyPrefix: keys.prefix,
      logLine: `[${now}] ${by}: ${verb}${reason ? `: ${reason}` : ''}`,
    },
  })) as string[];
  if (reply[0] === 'approved' || reply[0] === 'rejected') return { kind: reply[0], taskId };
  if (reply[0] === 'not_waiting') return { kind: 'not_waiting', taskId, status: reply[1] ?? 'unknown' };
  return { kind: 'not_found', taskId };
}

/** Fails the tasks whose approval window passed (`approval_timeout`), up to `max` per call; returns their ids. */
export async function expireApprovals(redis: Redis, keys: Keys, options: { by: string; retentionMs: number; max?: number; clock?: Clock }): Promise<string[]> {
  return (await approvalExpireScript.run(redis, {
    keys: { approvals: keys.approvals(), approvalTasks: keys.approvalTasks(), events: keys.events(), logStream: keys.logStream() },
    args: { nowIso: isoNow(options.clock ?? systemClock), retentionS: Math.ceil(options.retentionMs / 1000), max: options.max ?? 100, by: options.by, keyPrefix: keys.prefix },
  })) as string[];
}

/** The tasks awaiting approval, soonest window end first: id and when its window ends (ISO). */
export async function listAwaitingApproval(redis: Redis, keys: Keys, max = 100): Promise<{ taskId: string; until: string }[]> {
  const flat = await redis.zrange(keys.approvals(), 0, Math.max(0, max - 1), 'WITHSCORES');
  const out: { taskId: string; until: string }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ taskId: flat[i]!, until: new Date(Number(flat[i + 1])).toISOString() });
  return out;
}
