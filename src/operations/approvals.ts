import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import { DanError, ExitCode, InvalidInputError } from '../../lib/errors.js';
import type { ApprovalPlan } from '../../lib/protocol/approval.js';
import { AWAITING_APPROVAL } from '../../lib/protocol/approval.js';
import type { ApprovalDecision } from '../../lib/redis/approvals.js';
import { decideApproval } from '../../lib/redis/approvals.js';
import type { Keys } from '../../lib/redis/keys.js';
import { getResult } from '../../lib/redis/task-store.js';

/** What a person decides on: the task's state, its plan and its window, from its result hash. */
export interface ApprovalView {
  id: string;
  status: string;
  awaiting: boolean;
  plan: ApprovalPlan | null;
  since: string | null;
  until: string | null;
  /** `approved` or `rejected` once decided, with who decided; null before. */
  decision: string | null;
  decided_by: string | null;
}

/** The approval side of a task, or undefined when there is no such task. */
export async function approvalView(redis: Redis, keys: Keys, taskId: string): Promise<ApprovalView | undefined> {
  const result = await getResult(redis, keys, taskId);
  if (result === undefined) return undefined;
  const raw = result.raw;
  let plan: ApprovalPlan | null = null;
  try {
    plan = raw['approval_plan'] ? (JSON.parse(raw['approval_plan']) as ApprovalPlan) : null;
  } catch {
    plan = null;
  }
  return {
    id: result.taskId, status: result.status, awaiting: result.status === AWAITING_APPROVAL, plan,
    since: raw['approval_since'] ?? null, until: raw['approval_until'] ?? null,
    decision: raw['approval'] ?? null, decided_by: raw['approved_by'] ?? raw['rejected_by'] ?? null,
  };
}

/**
 * Approves or rejects a task awaiting approval, the one way `dan approve|reject`, `POST
 * /jobs/{id}/approve|reject` and the dashboard's buttons all decide. A task that is not waiting is
 * refused (`not_awaiting_approval`, HTTP 409, exit 1), one that does not exist too (`not_found`, exit 2).
 * A rejection needs a reason: it becomes the task's error.
 */
export async function decideTask(
  redis: Redis, keys: Keys, config: Pick<Config, 'retentionMs'>, taskId: string,
  options: { decision: ApprovalDecision; by: string; reason?: string },
): Promise<{ id: string; outcome: 'approved' | 'rejected' }> {
  const reason = options.reason?.trim();
  if (options.decision === 'reject' && !reason) throw new InvalidInputError(`say why task '${taskId}' is rejected (--reason, or "reason" in the body): it becomes the task's error`);
  const outcome = await decideApproval(redis, keys, taskId, { decision: options.decision, by: options.by, retentionMs: config.retentionMs, ...(reason ? { reason } : {}) });
  if (outcome.kind === 'not_found') throw new DanError('not_found', `no task '${taskId}' (it never existed, or its result expired after the retention period)`, { exitCode: ExitCode.usage });
  if (outcome.kind === 'not_waiting') {
    throw new DanError('not_awaiting_approval', `task '${taskId}' is ${outcome.status}, not awaiting approval: only a task in awaiting_approval can be approved or rejected (dan status ${taskId} shows where it is)`);
  }
  return { id: taskId, outcome: outcome.kind };
}
