import type { Task } from './task.js';

/** The result status of a task paused for a person's decision (lib/redis/approvals.ts); not terminal. */
export const AWAITING_APPROVAL = 'awaiting_approval';

/** What a person approves: the task as it will run, before any work is done on it. Bounded, so a huge task cannot bloat its result. */
export interface ApprovalPlan {
  domain: string;
  description: string;
  requirements: string[];
  priority: string;
  timeout_seconds: number;
  /** The checks its work will have to pass (`metadata.verify`), when it names any. */
  verify?: unknown;
  /** The keys of its context (the values may be large, and are in the task itself). */
  context_keys: string[];
}

const MAX_PLAN_DESCRIPTION = 4_000;
const MAX_PLAN_REQUIREMENTS = 50;

/**
 * Whether `task` must await approval before its work starts: it asks (`metadata.approval: true`) or its
 * domain does (`approval: true` in its domain.md). A task cannot opt out of its domain's gate.
 */
export function requiresApproval(task: Task, domainRequires: boolean): boolean {
  return domainRequires || task.metadata['approval'] === true;
}

/** How long `task` may await approval: its `metadata.approval_timeout_seconds`, else the network's window. */
export function approvalWindowMs(task: Task, defaultWindowMs: number): number {
  const own = task.metadata['approval_timeout_seconds'];
  return typeof own === 'number' && own > 0 ? Math.ceil(own * 1000) : defaultWindowMs;
}

/** The plan shown to whoever decides (`dan status`, `GET /jobs/{id}/approval`, the dashboard). */
export function approvalPlan(task: Task, domain: string): ApprovalPlan {
  const description = task.description.length > MAX_PLAN_DESCRIPTION ? `${task.description.slice(0, MAX_PLAN_DESCRIPTION)}...` : task.description;
  return {
    domain,
    description,
    requirements: task.requirements.slice(0, MAX_PLAN_REQUIREMENTS).map((r) => (r.length > 500 ? `${r.slice(0, 500)}...` : r)),
    priority: task.priority,
    timeout_seconds: task.timeoutSeconds,
    ...(task.metadata['verify'] !== undefined ? { verify: task.metadata['verify'] } : {}),
    context_keys: Object.keys(task.context).slice(0, 50),
  };
}
