import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import { DanError, ExitCode } from '../../lib/errors.js';
import { buildTaskJson, parseTask } from '../../lib/protocol/task.js';
import type { Keys } from '../../lib/redis/keys.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { knownDomains } from './known-domains.js';

/**
 * What is wrong with a task about to be sent, by the sizes the network holds tasks to
 * (DAN_MAX_*_BYTES), or undefined when nothing is; checked before anything is queued.
 */
export function taskProblem(task: SubmitInput, config: Pick<Config, 'taskLimits'>): string | undefined {
  const preview = parseTask(buildTaskJson(task, task.taskId ?? 'preview', new Date().toISOString()), undefined, config.taskLimits);
  return preview.kind === 'ok' ? undefined : preview.reason.replace(/^invalid task: /, '');
}

/**
 * Sends a task the way `dan send` and `POST /jobs` both do: to `main` or a domain the network knows,
 * then queued by `submitTask` in one step that also refuses it when that domain's queue is full
 * (DAN_MAX_QUEUE_DEPTH). The caller has checked the task with `taskProblem`.
 */
export async function submitJob(redis: Redis, keys: Keys, config: Config, task: SubmitInput): Promise<{ taskId: string }> {
  if (task.domain !== 'main') {
    const known = await knownDomains(redis, keys, config);
    if (!known.includes(task.domain)) {
      throw new DanError('unknown_domain', `unknown domain '${task.domain}'; known domains: main, ${known.join(', ')}`, { exitCode: ExitCode.usage });
    }
  }
  // Backpressure: past the limit the task is refused (QueueFullError) rather than left to wait without end.
  const { taskId } = await submitTask(redis, keys, task, undefined, { retentionMs: config.retentionMs, maxQueueDepth: config.maxQueueDepth });
  return { taskId };
}
