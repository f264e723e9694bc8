import type { Redis } from 'ioredis';
import type { TaskResult } from '../../lib/protocol/result.js';
import { isTerminal } from '../../lib/protocol/result.js';
import type { StartFailure } from '../../lib/redis/domain-starts.js';
import { readStartFailures } from '../../lib/redis/domain-starts.js';
import type { Keys } from '../../lib/redis/keys.js';
import { PlanStore } from '../../lib/redis/plan-store.js';
import { readResultStatuses } from '../../lib/redis/result-fields.js';
import { childTaskId } from '../main/delegation.js';

export interface ChildStatus {
  task_id: string;
  status: string;
  error?: string;
}

/** A task's plan as read already (`plan` undefined: it has none), so it is not read again. */
export interface KnownPlan {
  plan: unknown;
}

/** Reads a task's plan (`PlanStore`); issued with the read of its result, both leave in one write. */
export async function readPlan(redis: Redis, keys: Keys, taskId: string): Promise<KnownPlan> {
  return { plan: await new PlanStore(redis, keys).read(taskId) };
}

/**
 * The sub-tasks of a parent and where each stands, also while the parent is still running; `known`
 * is its plan when the caller read it already (`readPlan`).
 */
export async function childStatuses(redis: Redis, keys: Keys, taskId: string, result: TaskResult | undefined, known?: KnownPlan): Promise<ChildStatus[]> {
  const ids = await childIds(redis, keys, taskId, result, known);
  const found = await readResultStatuses(redis, keys, ids);
  return ids.map((id, i) => {
    const { status, error } = found[i] ?? {};
    return { task_id: id, status: status ?? 'not queued yet', ...(error ? { error } : {}) };
  });
}

/** The ids of a task's sub-tasks: from its result once it ended, else from its plan. */
export async function childIds(redis: Redis, keys: Keys, taskId: string, result: TaskResult | undefined, known?: KnownPlan): Promise<string[]> {
  const children = result?.output?.['children'];
  if (children && typeof children === 'object') return Object.keys(children);
  const plan = (known ?? await readPlan(redis, keys, taskId)).plan as { steps?: { domain: string }[] } | undefined;
  if (!plan) return [];
  const steps = plan.steps ?? [];
  return steps.map((s) => childTaskId(taskId, s.domain));
}

/**
 * The last start failures of the domains a task waits for (its own while pending; those of its
 * pending sub-tasks), so a task that does not move says why: the domain cannot start.
 */
export async function startFailuresFor(redis: Redis, keys: Keys, taskId: string, result: TaskResult | undefined): Promise<StartFailure[]> {
  if (!result || isTerminal(result.status)) return [];
  const domains = new Set<string>();
  if (result.status === 'pending' && result.domain) domains.add(result.domain);
  for (const child of await childStatuses(redis, keys, taskId, result)) {
    if (child.status === 'pending' || child.status === 'not queued yet') domains.add(child.task_id.slice(taskId.length + 1));
  }
  return readStartFailures(redis, keys, [...domains]);
}
