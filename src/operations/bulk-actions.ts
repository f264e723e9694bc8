import type { Redis } from 'ioredis';
import { DanError } from '../../lib/errors.js';
import type { Keys } from '../../lib/redis/keys.js';
import type { ListedTask, TaskFilter } from './list-tasks.js';
import { listTasks, MAX_LIMIT } from './list-tasks.js';

/** Most items one bulk action touches. */
export const MAX_BULK = 1000;

/** What a bulk action did: how many items the filter matched, those it acted on, and those it left, with why. */
export interface BulkOutcome {
  matched: number;
  done: string[];
  skipped: Array<{ id: string; code: string; reason: string }>;
}

/**
 * `client`'s tasks that pass `filter`, newest first, at most `limit` (up to `MAX_BULK`): the jobs a
 * bulk action by filter acts on, found page by page as `GET /jobs` lists them.
 */
export async function matchingTasks(redis: Redis, keys: Keys, client: string, filter: TaskFilter, limit: number): Promise<ListedTask[]> {
  const found: ListedTask[] = [];
  let cursor: string | undefined;
  do {
    const page = await listTasks(redis, keys, client, filter, { limit: Math.min(MAX_LIMIT, limit - found.length), ...(cursor !== undefined ? { cursor } : {}) });
    found.push(...page.tasks);
    cursor = page.nextCursor;
  } while (cursor !== undefined && found.length < limit);
  return found;
}

/**
 * Runs `act` on each item in turn, as its single action would: an item the action refuses (a
 * `DanError`: already ended, not failed, gone meanwhile) is skipped with its code and message, and
 * the rest go on. Any other error (Redis gone) stops the whole action.
 */
export async function eachItem<T>(items: readonly T[], idOf: (item: T) => string, act: (item: T) => Promise<unknown>): Promise<BulkOutcome> {
  const outcome: BulkOutcome = { matched: items.length, done: [], skipped: [] };
  for (const item of items) {
    try {
      await act(item);
      outcome.done.push(idOf(item));
    } catch (error) {
      if (!(error instanceof DanError)) throw error;
      outcome.skipped.push({ id: idOf(item), code: error.code, reason: error.message });
    }
  }
  return outcome;
}
