import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { isoNow, systemClock } from '../clock.js';
import { DanError, ExitCode, InvalidInputError } from '../errors.js';
import { readResultHash } from '../protocol/result.js';
import type { Task } from '../protocol/task.js';
import type { RunIf } from '../protocol/workflow.js';
import { MAX_DEPENDENCIES } from '../protocol/workflow.js';
import { taskIdProblem } from '../protocol/task.js';
import { DEFAULT_CLIENT_ID } from '../protocol/client-id.js';
import type { Keys } from './keys.js';
import { waitForReplicas } from './connection.js';
import { submitAfterScript } from './lua/dependency-scripts.js';
import { indexSpanMs, INDEXED_DESCRIPTION_CHARS } from './task-store.js';

/** A task that waits on others before it is queued (`dan send --after`, a workflow's step or the workflow itself). */
export interface WaitingTask {
  taskId: string;
  /** Its wire JSON, pushed to `tasks:pending:{domain}` as is once it is released. */
  raw: string;
  domain: string;
  parentId?: string;
  description: string;
  /** Ids of the tasks it waits on (none for a workflow step that needs nothing). */
  after: readonly string[];
  runIf: RunIf;
  /** `workflow`: the parent of steps, which ends (rather than runs) once they all ended. */
  kind: 'task' | 'workflow';
  steps?: number;
}

/**
 * Why `after` cannot be the dependencies of task `taskId`, naming the fix; undefined when it can.
 * Checked before Redis is asked: ids, the task itself, how many.
 */
export function dependenciesProblem(taskId: string | undefined, after: readonly string[]): string | undefined {
  if (after.length === 0) return 'no task ids to wait on: name at least one, as --after ID[,ID]';
  if (after.length > MAX_DEPENDENCIES) return `a task may wait on at most ${MAX_DEPENDENCIES} tasks, got ${after.length}: wait on a workflow of them instead`;
  for (const id of after) {
    const problem = taskIdProblem(id);
    if (problem !== undefined) return `dependency: ${problem}`;
    if (id === taskId) return `task ${id} cannot wait on itself: remove it from its dependencies`;
  }
  return undefined;
}

/**
 * Queues tasks that wait on others in one atomic step (lua/submit-after-1.lua): refused as a whole,
 * nothing written, when a dependency is unknown, another client's, or failed already (unless the task
 * runs anyway), or an id is taken. Ids are checked by the caller (`dependenciesProblem`; a batch's
 * own cycles by `findCycle`). Returns how many were queued at once (all their dependencies completed).
 */
export async function submitAfter(
  redis: Redis, keys: Keys, tasks: readonly WaitingTask[], options: { clientId?: string; retentionMs: number; clock?: Clock },
): Promise<{ queued: number }> {
  const clock = options.clock ?? systemClock;
  const now = clock.now();
  const client = options.clientId && options.clientId !== DEFAULT_CLIENT_ID ? options.clientId : '';
  const batch = tasks.map((t) => ({
    id: t.taskId, raw: t.raw, domain: t.domain, parent: t.parentId ?? '', description: t.description.slice(0, INDEXED_DESCRIPTION_CHARS),
    // An empty Lua table encodes as an object, but is only ever iterated: either is fine for `after`.
    after: [...new Set(t.after)], run_if: t.runIf, kind: t.kind, steps: t.steps ?? 0,
  }));
  const reply = (await submitAfterScript.run(redis, {
    keys: { jobs: keys.jobs(client || DEFAULT_CLIENT_ID) },
    args: {
      keyPrefix: keys.prefix, clientId: client, nowMs: now, trimBeforeMs: now - indexSpanMs(options.retentionMs),
      childrenTtlMs: options.retentionMs, nowIso: isoNow(clock), batch: JSON.stringify(batch),
    },
  })) as [string, string | number, string?, string?];
  const [outcome, id, detail] = reply;
  switch (outcome) {
    case 'ok':
      await waitForReplicas(redis);
      return { queued: Number(id) };
    case 'exists':
      throw new InvalidInputError(`task id ${id} is already used (status ${detail ?? 'unknown'}): choose another id`);
    case 'unknown':
      throw new InvalidInputError(`task ${id} cannot wait on ${detail}: no such task (it never existed, or its result expired); check the id with 'dan status ${detail}'`);
    case 'other_client':
      throw new InvalidInputError(`task ${id} cannot wait on ${detail}: that task belongs to another client; a task may wait only on its own client's tasks`);
    case 'failed':
      throw new InvalidInputError(`task ${id} cannot wait on ${detail}: that task failed already; retry it and wait on the new one, or run this task anyway (--run-anyway, run_if: always)`);
    default:
      throw new DanError('internal', `the dependency submit answered ${String(outcome)}`, { exitCode: ExitCode.failed });
  }
}

/** What a task that depended on another learns of it: what its workers get in `context.depends_on_results`. */
export interface DependencyOutcome {
  task_id: string;
  status: string;
  summary: string;
  files_created: string[];
  files_modified: string[];
  branch?: string;
  commit?: string;
  error?: string;
}

const texts = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string').slice(0, 200) : []);

/**
 * The results of a task's dependencies, read when it starts, and whether the task was released by its
 * dependencies (`released_at`, set by the scripts that queue it): a task pushed straight to a queue with
 * `metadata.depends_on` was not, and must not run before them. One round trip.
 */
export async function dependencyOutcomes(redis: Redis, keys: Keys, taskId: string, after: readonly string[]): Promise<{ released: boolean; outcomes: DependencyOutcome[] }> {
  const pipeline = redis.pipeline().hget(keys.result(taskId), 'released_at');
  for (const id of after) pipeline.hgetall(keys.result(id));
  const replies = (await pipeline.exec()) ?? [];
  const released = typeof replies[0]?.[1] === 'string';
  const outcomes = after.map((id, i) => {
    const result = readResultHash(id, (replies[i + 1]?.[1] ?? {}) as Record<string, string>);
    const output = result?.output ?? {};
    const outcome: DependencyOutcome = {
      task_id: id, status: result?.status ?? 'expired',
      summary: typeof output['summary'] === 'string' ? output['summary'].slice(0, 2000) : '',
      files_created: texts(output['files_created']), files_modified: texts(output['files_modified']),
    };
    if (typeof output['branch'] === 'string') outcome.branch = output['branch'];
    if (typeof output['commit'] === 'string') outcome.commit = output['commit'];
    if (result?.error) outcome.error = result.error.slice(0, 500);
    return outcome;
  });
  return { released, outcomes };
}

/**
 * Puts the results of the tasks `task` waited on (`metadata.depends_on`) into its
 * `context.depends_on_results`, by task id, where workers read what was done before them. Returns why
 * the task must not run when it names dependencies but was not released by them (pushed straight to a
 * queue); undefined otherwise. A task without dependencies costs nothing.
 */
export async function withDependencyResults(redis: Redis, keys: Keys, task: Task): Promise<string | undefined> {
  const named = task.metadata['depends_on'];
  if (named === undefined) return undefined;
  const after = Array.isArray(named) ? named.filter((id): id is string => typeof id === 'string').slice(0, MAX_DEPENDENCIES) : [];
  if (after.length === 0) return undefined;
  const { released, outcomes } = await dependencyOutcomes(redis, keys, task.taskId, after);
  if (!released) {
    return "metadata.depends_on is set, but the task was pushed straight to a queue, where it cannot wait: send it with 'dan send --after' or the API's depends_on";
  }
  const earlier = task.context['depends_on_results'];
  task.context = {
    ...task.context,
    depends_on_results: { ...(earlier !== null && typeof earlier === 'object' ? earlier : {}), ...Object.fromEntries(outcomes.map((o) => [o.task_id, o])) },
  };
  return undefined;
}

/** One task of a workflow as its result stands: for `dan status` and the dashboard's graph. */
export interface WorkflowStepState {
  taskId: string;
  status: string;
  /** Ids of the tasks it waits on (`depends_on` of its result). */
  dependsOn: string[];
  error?: string;
}

/** The steps (children) of workflow `workflowId` as they stand now; one SMEMBERS and one pipelined read. */
export async function readWorkflowSteps(redis: Redis, keys: Keys, workflowId: string): Promise<WorkflowStepState[]> {
  const ids = (await redis.smembers(keys.children(workflowId))).sort();
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hmget(keys.result(id), 'status', 'depends_on', 'error');
  const replies = (await pipeline.exec()) ?? [];
  return ids.map((taskId, i) => {
    const [status, dependsOn, error] = (replies[i]?.[1] ?? []) as (string | null)[];
    return { taskId, status: status ?? 'expired', dependsOn: dependsOn ? dependsOn.split(',').filter((d) => d !== '') : [], ...(error ? { error } : {}) };
  });
}
