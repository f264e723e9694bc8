import type { Config } from '../../lib/config.js';
import { toFailure } from '../../lib/errors.js';
import type { Delivery, Task } from '../../lib/protocol/task.js';
import { DELIVERIES } from '../../lib/protocol/task.js';
import type { TaskContext, TaskHandler } from '../../lib/runtime/task-consumer.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import type { Delivered, TaskBranchOpening } from '../../lib/workspace/task-branch.js';
import { TaskBranch } from '../../lib/workspace/task-branch.js';
import { taskWorkspace } from '../../lib/workspace/task-workspace.js';

/** A task's context as a domain's handler gets it: with the folder its workers work in when that is not the task's workspace. */
export interface BranchTaskContext extends TaskContext {
  /** The task's own git worktree (see lib/workspace/task-branch.ts); absent: the task's workspace itself. */
  workspace?: string;
  /** Folders the task's commands may read besides its workspace: the repository's git folder and linked dependency folders. */
  readOnly?: readonly string[];
}

/** Opens a task's branch, or says why it has none. */
export type OpenTaskBranch = (task: Task) => Promise<TaskBranchOpening>;

/**
 * The task's branch as the network's settings make it: in the task's workspace (DAN_WORKSPACE or
 * `context.workspace`), delivered as `metadata.delivery` or DAN_TASK_DELIVERY says. A workspace the
 * task may not use opens nothing here: the worker refuses it with its reason, as before.
 */
export function taskBranchOpener(config: Config): OpenTaskBranch {
  return async (task) => {
    let dir: string;
    try {
      dir = taskWorkspace(config.workspace, task, config.workspaceRoots).root;
    } catch {
      return {};
    }
    const wanted = task.metadata['delivery'];
    const delivery: Delivery = DELIVERIES.find((d) => d === wanted) ?? config.taskBranch.delivery;
    return TaskBranch.open(dir, task.taskId, { delivery, remote: config.taskBranch.remote, dir: config.taskBranch.dir });
  };
}

/**
 * Runs `inner` (a domain's work on a task) on the task's own branch when its workspace is a git
 * repository: the workers get the worktree, the work is committed and delivered after them, and the
 * result names the branch and commit. A completed task whose delivery fails ends `failed` with the
 * delivery's code (`merge_conflict`, `delivery_failed`); a failed task's work stays on its branch.
 * The worktree is removed whatever the ending. Steps that must see the task's work before it is
 * delivered (checks, a review) belong inside `inner`, which sees `ctx.workspace`.
 */
export function onTaskBranch(open: OpenTaskBranch, inner: (ctx: BranchTaskContext) => Promise<Record<string, unknown>>): TaskHandler {
  return async (ctx) => {
    if (ctx.task.type === 'echo') return inner(ctx);
    const opened = await open(ctx.task);
    if (opened.note) await ctx.log(opened.note);
    const branch = opened.branch;
    if (!branch) return inner(ctx);
    try {
      let output: Record<string, unknown>;
      let failed: TaskFailedError | undefined;
      try {
        output = await inner({ ...ctx, workspace: branch.workspace, readOnly: branch.readOnly });
      } catch (error) {
        if (!(error instanceof TaskFailedError)) {
          // Stopped (a timeout, a cancel, a shutdown) or broken: keep what was done on the branch, then end as before.
          await branch.finish(false, toFailure(error).message).catch(() => undefined);
          throw error;
        }
        failed = error;
        output = error.output;
      }
      const summary = typeof output['summary'] === 'string' ? output['summary'] : '';
      let delivered: Delivered;
      try {
        delivered = await branch.finish(failed === undefined, summary);
      } catch (error) {
        // A failure of git here must not hide why the task failed: that failure stands, without the branch.
        throw failed ?? error;
      }
      await ctx.log(delivered.note);
      const full = { ...output, ...delivered.fields };
      if (failed) {
        const failure = toFailure(failed);
        throw new TaskFailedError(failed.message, full, failure.code, { retryable: failure.retryable });
      }
      if (delivered.failure) throw new TaskFailedError(delivered.failure.message, full, delivered.failure.code);
      return full;
    } finally {
      await branch.close();
    }
  };
}
