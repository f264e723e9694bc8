import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import { DanError, ExitCode, InvalidInputError } from '../../lib/errors.js';
import { buildTaskJson, parseTask, taskIdProblem } from '../../lib/protocol/task.js';
import type { RunIf } from '../../lib/protocol/workflow.js';
import type { Keys } from '../../lib/redis/keys.js';
import { dependenciesProblem, submitAfter } from '../../lib/redis/task-dependencies.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import { submitTask, taskClientId } from '../../lib/redis/task-store.js';
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
export async function submitJob(redis: Redis, keys: Keys, config: Config, task: SubmitInput, dependencies?: Dependencies): Promise<{ taskId: string }> {
  await checkDomains(redis, keys, config, [task.domain]);
  if (dependencies !== undefined) return submitWithDependencies(redis, keys, config, task, dependencies);
  // Backpressure: past the limit the task is refused (QueueFullError) rather than left to wait without end.
  const { taskId } = await submitTask(redis, keys, task, undefined, { retentionMs: config.retentionMs, maxQueueDepth: config.maxQueueDepth });
  return { taskId };
}

/** What a task sent with dependencies waits on (`dan send --after`, the API's `depends_on`). */
export interface Dependencies {
  after: readonly string[];
  /** `always`: it runs even when one of them failed or was cancelled (`--run-anyway`). */
  runIf: RunIf;
}

/** Refuses domains the network does not know (`main` always is). */
export async function checkDomains(redis: Redis, keys: Keys, config: Config, domains: readonly string[]): Promise<void> {
  const wanted = [...new Set(domains)].filter((d) => d !== 'main');
  if (wanted.length === 0) return;
  const known = await knownDomains(redis, keys, config);
  const unknown = wanted.find((d) => !known.includes(d));
  if (unknown !== undefined) {
    throw new DanError('unknown_domain', `unknown domain '${unknown}'; known domains: main, ${known.join(', ')}`, { exitCode: ExitCode.usage });
  }
}

/**
 * A task that waits: status `waiting` until every task in `after` has ended, then queued as any
 * other (lib/redis/task-dependencies.ts). Its metadata names what it waits on, for its agents.
 */
async function submitWithDependencies(redis: Redis, keys: Keys, config: Config, task: SubmitInput, dependencies: Dependencies): Promise<{ taskId: string }> {
  const taskId = task.taskId ?? randomUUID();
  const idProblem = taskIdProblem(taskId);
  if (idProblem !== undefined) throw new InvalidInputError(`${idProblem}; pick another id, or leave it out and a UUID is used`);
  const after = [...new Set(dependencies.after)];
  const problem = dependenciesProblem(taskId, after);
  if (problem !== undefined) throw new InvalidInputError(problem);
  const extraMetadata = { ...task.extraMetadata, depends_on: after, ...(dependencies.runIf === 'always' ? { run_if: 'always' } : {}) };
  const raw = buildTaskJson({ ...task, extraMetadata }, taskId, new Date().toISOString());
  const client = taskClientId(task);
  await submitAfter(redis, keys, [{ taskId, raw, domain: task.domain, description: task.description, after, runIf: dependencies.runIf, kind: 'task' }], {
    ...(client !== undefined ? { clientId: client } : {}), retentionMs: config.retentionMs,
  });
  return { taskId };
}
