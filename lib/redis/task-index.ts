import type { Redis } from 'ioredis';
import type { TaskResult } from '../protocol/result.js';
import { readResultHash } from '../protocol/result.js';
import type { Keys } from './keys.js';

/** One entry of a client's task index: a task id and when it was sent (ms since the epoch). */
export interface IndexEntry {
  taskId: string;
  sentAtMs: number;
}

/**
 * Up to `count` entries of `client`'s task index (`dan:jobs:{client}`), newest first, sent at or before
 * `maxMs` and at or after `minMs`, skipping the first `offset` of them. Entries sent in the same
 * millisecond come in reverse order of their ids, so (time, id) orders the whole index.
 */
export async function readTaskIndex(
  redis: Redis, keys: Keys, client: string, range: { maxMs: number; minMs: number; offset: number; count: number },
): Promise<IndexEntry[]> {
  const max = Number.isFinite(range.maxMs) ? String(range.maxMs) : '+inf';
  const min = Number.isFinite(range.minMs) ? String(range.minMs) : '-inf';
  const flat = await redis.zrange(keys.jobs(client), max, min, 'BYSCORE', 'REV', 'LIMIT', range.offset, range.count, 'WITHSCORES');
  const entries: IndexEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ taskId: flat[i] as string, sentAtMs: Number(flat[i + 1]) });
  return entries;
}

/** The result hashes of `taskIds` in one round trip; undefined where a result has expired. */
export async function readResults(redis: Redis, keys: Keys, taskIds: readonly string[]): Promise<(TaskResult | undefined)[]> {
  if (taskIds.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of taskIds) pipeline.hgetall(keys.result(id));
  const replies = (await pipeline.exec()) ?? [];
  return taskIds.map((id, i) => {
    const [error, hash] = replies[i] ?? [null, {}];
    if (error) throw error;
    return readResultHash(id, (hash ?? {}) as Record<string, string>);
  });
}
