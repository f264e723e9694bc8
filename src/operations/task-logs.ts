import { sleep } from '../../lib/clock.js';
import { isTerminal } from '../../lib/protocol/result.js';
import type { Redis } from '../../lib/redis/connection.js';
import type { Keys } from '../../lib/redis/keys.js';
import { readResultStatus } from '../../lib/redis/result-fields.js';
import { getResult, readTaskLogs } from '../../lib/redis/task-store.js';
import type { LogLine } from '../cli/log-lines.js';
import { fromLogEntry, mergeByTime } from '../cli/log-lines.js';
import { childIds } from './task-children.js';

/** Log lines read so far per list (`results:{id}:logs`), by task id: where a follow starts or resumes. */
export type LogPositions = ReadonlyMap<string, number>;

/** One task's log lines and its sub-tasks': `dan logs --task` and `GET /jobs/{id}/logs` both read through it. */
export interface TaskLogFollower {
  /** The last `count` lines that `keep` keeps of those not read yet: -n counts what is shown, not what is read. */
  recent(count: number, keep: (line: LogLine) => boolean): Promise<LogLine[]>;
  /** Every line not read yet, then new ones as they come; resolves when `signal` aborts or the task has ended and its lines are read. */
  follow(signal: AbortSignal, onLine: (line: LogLine) => void): Promise<void>;
}

/**
 * Follows a task's own log list and those of the sub-tasks it has so far, polling: no subscription, no
 * connection of its own, and nothing left running once `follow` has resolved. `from` skips lines
 * already read (a resumed follow).
 */
export function taskLogFollower(redis: Redis, keys: Keys, taskId: string, from: LogPositions = new Map()): TaskLogFollower {
  const seen = new Map(from);
  /** New lines of the task and of the sub-tasks it has so far, merged by time. */
  const readNew = async (): Promise<LogLine[]> => {
    const ids = [taskId, ...(await childIds(redis, keys, taskId, await getResult(redis, keys, taskId)))];
    const groups = await Promise.all(ids.map(async (id) => {
      const start = seen.get(id) ?? 0;
      const lines = await readTaskLogs(redis, keys, id, start);
      seen.set(id, start + lines.length);
      return lines.map((line) => fromLogEntry({ taskId: id, agentId: '', domain: '', line }));
    }));
    return mergeByTime(groups);
  };
  return {
    async recent(count, keep) {
      // A task's lists are short (one task's progress): read them whole, then keep the last `count`.
      const kept = (await readNew()).filter(keep);
      return count > 0 ? kept.slice(-count) : [];
    },
    async follow(signal, onLine) {
      while (!signal.aborted) {
        const lines = await readNew();
        lines.forEach(onLine);
        if (lines.length === 0 && isTerminal(await readResultStatus(redis, keys, taskId))) {
          // Sub-tasks end before their parent: one more read catches their last lines.
          (await readNew()).forEach(onLine);
          return;
        }
        await sleep(250, signal);
      }
    },
  };
}
