import { existsSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { DanError, ExitCode } from '../../lib/errors.js';
import type { TaskResult } from '../../lib/protocol/result.js';
import type { Keys } from '../../lib/redis/keys.js';
import { getResult } from '../../lib/redis/task-store.js';
import type { BranchFields } from '../../lib/workspace/task-branch.js';
import { readBranchFields, taskDiff } from '../../lib/workspace/task-branch.js';

/** One branch's changes, as `dan diff --json` prints them and `GET /jobs/{id}/diff` answers them. */
export type TaskDiff = { task_id: string; diff: string } & BranchFields;

export interface TaskDiffOptions {
  /** The repository's path on this machine, when it differs from the agent's (a container's). */
  repo?: string;
  /** Only the files changed and how much. */
  stat: boolean;
  /** The error for a repository that is not on this machine: each face says its own fix. */
  missingRepository: (repository: string, taskId: string) => Error;
}

/**
 * A task's changes: the diff from the commit it started on to its work on branch dan/<id>; a routed
 * task has no branch of its own, and its sub-tasks' branches, in the order they ran, are its diff.
 * not_found (exit 1) when there is none yet, saying why.
 */
export async function taskDiffs(redis: Redis, keys: Keys, result: TaskResult, options: TaskDiffOptions): Promise<TaskDiff[]> {
  const id = result.taskId;
  const children = result.output?.['children'];
  const ids = readBranchFields(result.output) || typeof children !== 'object' || children === null ? [id] : Object.keys(children);
  const diffs: TaskDiff[] = [];
  for (const taskId of ids) {
    const fields = readBranchFields(taskId === id ? result.output : (await getResult(redis, keys, taskId))?.output);
    if (!fields) continue;
    const repository = options.repo ?? fields.repository;
    if (!existsSync(repository)) throw options.missingRepository(repository, taskId);
    diffs.push({ task_id: taskId, ...fields, diff: await taskDiff(fields, repository, { stat: options.stat }) });
  }
  if (diffs.length === 0) {
    const why = result.status === 'completed' || result.status === 'failed'
      ? 'its workspace was not a git repository with a commit, so its files were written in place (see dan status for them)'
      : `it is ${result.status}; its diff is there once it ends`;
    throw new DanError('not_found', `task ${id} has no branch: ${why}`, { exitCode: ExitCode.failed });
  }
  return diffs;
}
