import { sleep } from '../../lib/clock.js';
import { DanError, ExitCode } from '../../lib/errors.js';
import type { Redis } from '../../lib/redis/connection.js';
import type { Keys } from '../../lib/redis/keys.js';
import { taskIdsStartingWith, taskKnown } from '../../lib/redis/task-ids.js';
import { readLogStream, tailLogStream } from '../../lib/redis/task-store.js';
import { taskLogFollower } from '../operations/task-logs.js';
import type { LogLine } from './log-lines.js';
import { fromLogEntry } from './log-lines.js';

/** The task log lines in Redis: the network-wide stream, or one task's lists (its own and its sub-tasks'). */
export interface RedisLogs {
  /** The last `count` lines that `keep` keeps: -n counts what is shown, not what is read. */
  recent(count: number, keep: (line: LogLine) => boolean): Promise<LogLine[]>;
  /** Resolves when `signal` aborts, or (one task) when the task has ended and its lines are read. */
  follow(signal: AbortSignal, onLine: (line: LogLine) => void): Promise<void>;
}

// Stream entries read per step when paging back for lines a filter keeps.
const PAGE = 1_000;

/**
 * The id a person typed: a whole id, or a prefix of exactly one task (the 8 characters `dan logs`
 * prints). A prefix of a routed task also matches its sub-tasks (`{id}-{domain}`); the task itself is
 * meant then. Unknown or ambiguous is an error naming the candidates, never an endless follow.
 */
export async function resolveTaskId(redis: Redis, keys: Keys, typed: string): Promise<string> {
  if (await taskKnown(redis, keys, typed)) return typed;
  const found = await taskIdsStartingWith(redis, keys, typed);
  const parent = found.find((id) => found.every((other) => other === id || other.startsWith(`${id}-`)));
  if (parent !== undefined) return parent;
  if (found.length === 0) {
    throw new DanError('not_found', `no task '${typed}' and none starting with it (it never existed, or it expired after the retention period); list recent ones with 'dan logs --no-follow'`, { exitCode: ExitCode.failed });
  }
  throw new DanError('ambiguous', `'${typed}' starts ${found.length === 20 ? 'at least 20' : found.length} task ids: ${found.join(', ')}; type more of the id`, { exitCode: ExitCode.usage });
}

/** The network-wide stream, or with `taskId` the task's own log and its sub-tasks'. */
export function redisLogs(redis: Redis, keys: Keys, taskId: string | undefined): RedisLogs {
  return taskId ? taskLogFollower(redis, keys, taskId) : streamLogs(redis, keys);
}

function streamLogs(redis: Redis, keys: Keys): RedisLogs {
  // '0': the stream was empty, so everything added from now on is new.
  let last = '0';
  return {
    async recent(count, keep) {
      // At least one entry, to know where following starts even with -n 0.
      let page = await tailLogStream(redis, keys, Math.max(1, Math.min(count, PAGE)));
      last = page.at(-1)?.id ?? last;
      const kept: LogLine[] = [];
      // Page back until `count` lines pass the filter or the stream has no more.
      while (count > 0) {
        kept.unshift(...page.map(fromLogEntry).filter(keep));
        const first = page[0]?.id;
        if (kept.length >= count || first === undefined || page.length < Math.min(count, PAGE)) break;
        page = await tailLogStream(redis, keys, PAGE, first);
      }
      return kept.slice(-count);
    },
    async follow(signal, onLine) {
      while (!signal.aborted) {
        let entries;
        try {
          entries = await readLogStream(redis, keys, last, 1_000);
        } catch {
          // Redis is away: the connection reconnects by itself; go on from the last line seen.
          await sleep(500, signal);
          continue;
        }
        for (const entry of entries) {
          onLine(fromLogEntry(entry));
          last = entry.id ?? last;
        }
      }
    },
  };
}
