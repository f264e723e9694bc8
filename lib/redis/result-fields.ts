import type { Redis } from 'ioredis';
import type { TaskResult } from '../protocol/result.js';
import { readResultHash } from '../protocol/result.js';
import type { Keys } from './keys.js';

/**
 * Reads of single fields of `results:{id}` and of its log list, for code that polls or lists many
 * tasks and needs less than a whole parsed result (`getResult` in task-store.ts reads the whole).
 */

/** The task's `status` field; undefined when there is no result hash (never queued, or expired). */
export async function readResultStatus(redis: Redis, keys: Keys, taskId: string): Promise<string | undefined> {
  return (await redis.hget(keys.result(taskId), 'status')) ?? undefined;
}

/** How a task ended, as much of it as a parent uses: its status, parsed output and error. */
export type TaskEnd = Pick<TaskResult, 'status' | 'output' | 'error'>;

/**
 * `status`, `output` and `error` of a task's result, parsed as `getResult` parses them; undefined when
 * there is no result hash. A main orchestrator reads each sub-task's end so: the rest of the hash (its
 * input, description, times) was a third of the bytes of every read.
 */
export async function readTaskEnd(redis: Redis, keys: Keys, taskId: string): Promise<TaskEnd | undefined> {
  const names = ['status', 'output', 'error'] as const;
  const values = await redis.hmget(keys.result(taskId), ...names);
  const fields: Record<string, string> = {};
  names.forEach((name, i) => {
    const value = values[i];
    if (typeof value === 'string') fields[name] = value;
  });
  return readResultHash(taskId, fields);
}

/** `status` and `error` of many tasks in one round trip, in the order of `taskIds`. */
export async function readResultStatuses(redis: Redis, keys: Keys, taskIds: readonly string[]): Promise<{ status?: string; error?: string }[]> {
  if (taskIds.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of taskIds) pipeline.hmget(keys.result(id), 'status', 'error');
  const replies = (await pipeline.exec()) ?? [];
  return taskIds.map((_, i) => {
    const [status, error] = (replies[i]?.[1] ?? []) as (string | null)[];
    return { ...(status ? { status } : {}), ...(error ? { error } : {}) };
  });
}

/** Every field of the result hash as stored (empty when there is none), for readers that parse it themselves. */
export async function readResultFields(redis: Redis, keys: Keys, taskId: string): Promise<Record<string, string>> {
  return redis.hgetall(keys.result(taskId));
}

/** How many lines the task's log holds. */
export async function taskLogLength(redis: Redis, keys: Keys, taskId: string): Promise<number> {
  return redis.llen(keys.logs(taskId));
}
