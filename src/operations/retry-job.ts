import { createHash } from 'node:crypto';
import { DanError, ExitCode } from '../../lib/errors.js';
import type { TaskResult } from '../../lib/protocol/result.js';
import { isValidTaskId, parseTask, TASK_ID_RULE } from '../../lib/protocol/task.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';

/**
 * A job that failed on an agent is retried as a new job linked to it, not re-queued under its own id
 * (as BullMQ's job.retry() does): dan derives a job's stored plan and its sub-task ids from the job's id
 * (src/main/delegation.ts), so the same id run again would resume the failed sub-tasks and fail the
 * same way. The new job's id is derived from the old one (`<id>.r1`, and `<id>.r2` when that fails and
 * is retried in turn), so two retries of one failed job name the same new job: the second is refused
 * (`already_retried`) and no job runs twice.
 */
export function retryTaskId(id: string): string {
  const numbered = /^(.*)\.r(\d{1,6})$/.exec(id);
  const base = numbered ? numbered[1]! : id;
  const suffix = `.r${numbered ? Number(numbered[2]) + 1 : 1}`;
  const plain = `${base}${suffix}`;
  if (isValidTaskId(plain)) return plain;
  // A long id is cut, and a hash of it added, so the new id still follows the rule and is still the same every time.
  const hash = createHash('sha1').update(base).digest('hex').slice(0, 16);
  return `${base.slice(0, TASK_ID_RULE.maxLength - hash.length - suffix.length - 1)}-${hash}${suffix}`;
}

const notRetryable = (message: string) => new DanError('not_retryable', message, { exitCode: ExitCode.usage });

/**
 * The task that retries the failed job `result`: its input as it was sent (kept in its result as
 * `input` once it failed), under `retryTaskId`'s id with `metadata.retry_of` naming the old job.
 * not_retryable when that input is not kept (it failed before an agent took it, such as a job cancelled
 * while it waited) or the job is a sub-task (its parent is what to retry).
 */
export function retryTask(result: TaskResult): SubmitInput {
  const id = result.taskId;
  const parent = result.raw['parent_id'];
  if (parent) throw notRetryable(`job '${id}' is a sub-task of '${parent}': retry that job, which plans its sub-tasks again`);
  const input = result.raw['input'];
  if (input === undefined) {
    throw notRetryable(`job '${id}' failed before an agent took it (${result.error ?? 'no error recorded'}), so its input is not kept: send it again with POST /jobs`);
  }
  const parsed = parseTask(input);
  if (parsed.kind !== 'ok') throw notRetryable(`job '${id}' cannot be sent again: ${parsed.reason}; send a corrected job with POST /jobs`);
  const t = parsed.task;
  const { description: _description, requirements: _requirements, context: _context, ...extraPayload } = t.payload;
  const { priority: _priority, timeout_seconds: _timeout, parent_id: _parent, deadline: _deadline, retry_of: _retryOf, ...extraMetadata } = t.metadata;
  return {
    taskId: retryTaskId(id), domain: t.destination || result.domain || 'main', description: t.description, type: t.type, source: t.source,
    requirements: t.requirements, context: t.context, priority: t.priority, timeoutSeconds: t.timeoutSeconds, extraPayload,
    extraMetadata: { ...extraMetadata, retry_of: id },
  };
}
