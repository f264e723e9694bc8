import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/**
 * Finding tasks by what a person types: a whole id, or the first characters `dan logs` prints.
 * A task is known while its result hash or its log list is kept (a task whose only trace is the
 * lines an agent logged still has a log to show).
 */

/** True when the task has a result hash or a log list. */
export async function taskKnown(redis: Redis, keys: Keys, taskId: string): Promise<boolean> {
  return (await redis.exists(keys.result(taskId), keys.logs(taskId))) > 0;
}

/**
 * The ids of known tasks that start with `prefix`, sorted, at most `limit` (enough to list as
 * candidates). Reads key names with SCAN, so it is for a person's command, never a loop.
 */
export async function taskIdsStartingWith(redis: Redis, keys: Keys, prefix: string, limit = 20): Promise<string[]> {
  const start = keys.resultPrefix();
  // Task ids hold only A-Z a-z 0-9 _ . - (lib/protocol/task.ts), but a typed prefix may hold anything.
  const pattern = `${start}${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, names] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    // `results:{id}` and `results:{id}:logs`: ids hold no ':', so the part before one is the id.
    for (const name of names) found.add(name.slice(start.length).split(':')[0] as string);
  } while (cursor !== '0' && found.size < limit * 10);
  return [...found].sort().slice(0, limit);
}
