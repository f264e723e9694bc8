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
  /**
   * A routed task's plan (one sub-task per domain, in order), made before it parks: what main will
   * queue once it is approved. Absent for a domain's own task.
   */
  route?: ApprovalRouteStep[];
}

/** One sub-task of a routed task's plan, as the approver sees it. */
export interface ApprovalRouteStep {
  domain: string;
  description: string;
  /** Domains of the same plan whose sub-task must complete first. */
  after: string[];
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

const bounded = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}...` : text);

/**
 * The plan shown to whoever decides (`dan status`, `GET /jobs/{id}/approval`, the dashboard), with a
 * routed task's `route` when its agent made one.
 */
export function approvalPlan(task: Task, domain: string, route?: readonly ApprovalRouteStep[]): ApprovalPlan {
  const description = bounded(task.description, MAX_PLAN_DESCRIPTION);
  return {
    domain,
    description,
    requirements: task.requirements.slice(0, MAX_PLAN_REQUIREMENTS).map((r) => bounded(r, 500)),
    priority: task.priority,
    timeout_seconds: task.timeoutSeconds,
    ...(task.metadata['verify'] !== undefined ? { verify: task.metadata['verify'] } : {}),
    context_keys: Object.keys(task.context).slice(0, 50),
    ...(route ? { route: route.slice(0, MAX_PLAN_REQUIREMENTS).map((r) => ({ domain: r.domain, description: bounded(r.description, 1_000), after: r.after.slice(0, 50) })) } : {}),
  };
}
