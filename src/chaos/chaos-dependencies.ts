import type { Redis } from 'ioredis';
import { buildTaskJson, type Priority } from '../../lib/protocol/task.js';
import type { Keys } from '../../lib/redis/keys.js';
import { submitAfter } from '../../lib/redis/task-dependencies.js';
import { getResult } from '../../lib/redis/task-store.js';
import { firstClaimAfter } from './chaos-checks.js';

/** Every this many valid tasks of a run, one waits on the two sent before it (the chain crosses kills and the Redis restart). */
export const DEPENDENT_EVERY = 6;

/** Sends a task that waits on `after`, as `dan send --after` does (with `--approval` when it is gated); returns its id. */
export async function submitDependent(
  redis: Redis, keys: Keys, task: { taskId: string; domain: string; description: string; priority: Priority; type?: 'echo'; approval?: boolean }, after: readonly string[],
): Promise<string> {
  // A gated one waits on its dependencies first, then for its approval once they release it.
  const raw = buildTaskJson({ ...task, extraMetadata: { depends_on: after, ...(task.approval ? { approval: true } : {}) } }, task.taskId, new Date().toISOString());
  await submitAfter(redis, keys, [{ taskId: task.taskId, raw, domain: task.domain, description: task.description, after, runIf: 'success', kind: 'task' }], { retentionMs: 24 * 3600 * 1000 });
  return task.taskId;
}

/** How the dependent tasks of a run kept to their dependencies. */
export interface DependencyCheck {
  dependents: number;
  /** Claimed (its first attempt) before every task it waits on had completed, or claimed at all though one failed. */
  ranEarly: string[];
  /** Ended `dependency_failed`: one it waited on failed. */
  dependencyFailed: number;
}

/** Checks each dependent task against the tasks it waited on, from their results and its log's claim lines. */
export async function checkDependencies(redis: Redis, keys: Keys, dependents: ReadonlyMap<string, readonly string[]>): Promise<DependencyCheck> {
  const ranEarly: string[] = [];
  let dependencyFailed = 0;
  for (const [taskId, after] of dependents) {
    const claimed = await firstClaimAfter(redis, keys, taskId, 0);
    const result = await getResult(redis, keys, taskId);
    if ((result?.output?.['failure'] as { code?: string } | undefined)?.code === 'dependency_failed') dependencyFailed += 1;
    if (claimed === undefined) continue;
    for (const dep of after) {
      const ended = await getResult(redis, keys, dep);
      const completedAt = ended?.completedAt === undefined ? Number.NaN : Date.parse(ended.completedAt);
      if (ended?.status !== 'completed' || !(completedAt <= claimed)) {
        ranEarly.push(taskId);
        break;
      }
    }
  }
  return { dependents: dependents.size, ranEarly, dependencyFailed };
}
