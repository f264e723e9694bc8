import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import { DanError, ExitCode } from '../../lib/errors.js';
import type { TaskResult } from '../../lib/protocol/result.js';
import { isValidTaskId, parseTask, TASK_ID_RULE } from '../../lib/protocol/task.js';
import { DeadLetters } from '../../lib/redis/dead-letters.js';
import type { Keys } from '../../lib/redis/keys.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import { getResult } from '../../lib/redis/task-store.js';
import { retryDeadLetter } from './dead-letter-access.js';
import { submitJob, taskProblem } from './submit-job.js';

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

export interface RetryOptions {
  /** Who retried, for the dead letter's record (`api:<client>:<key>`, `cli@<user>`). */
  by: string;
  /** Another domain to send it to instead of its own. */
  to?: string;
  /** Wraps the queueing of task `taskId` (the API holds a place among the key's jobs in flight there). */
  hold?: <T>(taskId: string, queue: () => Promise<T>) => Promise<T>;
}

export interface RetryOutcome {
  /** The job that now runs: the same id for a dead letter, `<id>.rN` for a job that failed on an agent. */
  id: string;
  domain: string;
  /** The dead letter it was queued again from, if it was dead-lettered. */
  deadLetterRef: string | null;
  retryOf: string;
}

/**
 * Runs the failed job `result` again, as POST /jobs/{id}/retry and `dan retry` do: a dead-lettered job
 * goes back on its queue under its own id from its dead letter; a job that failed on an agent is sent
 * again as `retryTask` makes it. not_failed for a job that has not failed, already_retried when its
 * retry was sent already (also when a racing retry sent it first), not_retryable when it cannot be.
 */
export async function retryFailedJob(redis: Redis, keys: Keys, config: Config, result: TaskResult, options: RetryOptions): Promise<RetryOutcome> {
  const id = result.taskId;
  const hold = options.hold ?? ((_taskId, queue) => queue());
  if (result.status !== 'failed') {
    throw new DanError('not_failed', `job '${id}' is ${result.status}, not failed: only a failed job can be retried`, { exitCode: ExitCode.failed });
  }
  const entry = (await new DeadLetters(redis, keys).read()).find((e) => e.taskId === id);
  if (entry !== undefined) {
    const done = await hold(id, () => retryDeadLetter(redis, keys, config, entry, { by: options.by, ...(options.to !== undefined ? { to: options.to } : {}) }));
    return { id, domain: done.to, deadLetterRef: entry.ref, retryOf: id };
  }
  const task = retryTask(result);
  const newId = task.taskId!;
  const retried = async () => {
    const earlier = await getResult(redis, keys, newId);
    return earlier === undefined ? undefined : new DanError('already_retried', `job '${id}' was retried already, as job '${newId}' (${earlier.status}): follow that job, or retry it once it has failed`, { exitCode: ExitCode.failed });
  };
  const already = await retried();
  if (already !== undefined) throw already;
  const sent = { ...task, domain: options.to ?? task.domain };
  const problem = taskProblem(sent, config);
  if (problem !== undefined) throw notRetryable(`job '${id}' cannot be sent again: ${problem}; send a corrected job`);
  // A task that waited on others waits on them again (a task pushed straight with depends_on is refused).
  const { depends_on: after, run_if: runIf, ...metadata } = sent.extraMetadata ?? {};
  const dependencies = Array.isArray(after) && after.every((a) => typeof a === 'string') && after.length > 0
    ? { after: after as string[], runIf: runIf === 'always' ? 'always' as const : 'success' as const } : undefined;
  if (dependencies) sent.extraMetadata = metadata;
  try {
    await hold(newId, () => submitJob(redis, keys, config, sent, dependencies));
  } catch (error) {
    // A retry racing this one queued the same new job between the read above and the submit.
    throw (await retried()) ?? error;
  }
  return { id: newId, domain: sent.domain, deadLetterRef: null, retryOf: id };
}
