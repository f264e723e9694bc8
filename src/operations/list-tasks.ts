import type { Redis } from 'ioredis';
import { InvalidInputError } from '../../lib/errors.js';
import { DEFAULT_CLIENT_ID } from '../../lib/protocol/client-id.js';
import { readFailure } from '../../lib/protocol/failure.js';
import type { TaskResult } from '../../lib/protocol/result.js';
import type { Keys } from '../../lib/redis/keys.js';
import { readResults, readTaskIndex } from '../../lib/redis/task-index.js';
import { SEED_STATUS } from '../api/api-schemas.js';

/**
 * Listing a client's tasks, newest first, for `dan tasks` and `GET /jobs` alike. The client's task index
 * (`dan:jobs:{client}`, written where tasks are sent and where a raw push is first claimed) gives the
 * order and the since/until range; status, domain, parent and text are read from each task's result
 * while paging, looking at no more than `MAX_SCANNED` index entries per page.
 */

/** Most index entries one page looks at; a page that reaches it answers what it found and a cursor to go on from. */
export const MAX_SCANNED = 1000;
/** Most tasks one page answers. */
export const MAX_LIMIT = 200;
const BATCH = 100;

// `waiting`: sent with dependencies that have not ended (dan send --after, workflow steps).
const DAN_STATUSES = ['waiting', 'pending', 'in_progress', 'completed', 'failed', 'awaiting_approval'] as const;
export type DanStatus = (typeof DAN_STATUSES)[number];

/** A status as either names it (`QUEUED` or `pending`, any case), as dan's name; invalid_input otherwise. */
export function parseStatus(text: string): DanStatus {
  const name = text.trim();
  const dan = DAN_STATUSES.find((s) => s === name.toLowerCase());
  if (dan !== undefined) return dan;
  const seed = Object.entries(SEED_STATUS).find(([, s]) => s === name.toUpperCase());
  if (seed !== undefined) return seed[0] as DanStatus;
  throw new InvalidInputError(`unknown status '${text}': use QUEUED, RUNNING, SUCCEEDED, FAILED or dan's waiting, pending, in_progress, completed, failed, awaiting_approval (several with commas)`);
}

/** `a,b` statuses, as `--status` and `?status=` take them. */
export function parseStatuses(text: string): DanStatus[] {
  const names = text.split(',').filter((s) => s.trim() !== '');
  if (names.length === 0) throw new InvalidInputError('status names none: use QUEUED, RUNNING, SUCCEEDED, FAILED (or waiting, pending, in_progress, completed, failed), several with commas, or leave it out');
  return [...new Set(names.map(parseStatus))];
}

/** An ISO time (`2026-12-07T10:00:00Z`, or a date) as ms since the epoch; `what` names the option. */
export function parseTime(text: string, what: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text.trim()) : Number.NaN;
  if (!Number.isFinite(ms)) throw new InvalidInputError(`${what} takes an ISO time such as 2026-12-07T10:00:00Z or 2026-12-07; got '${text}'`);
  return ms;
}

export interface TaskFilter {
  statuses?: readonly DanStatus[];
  domain?: string;
  parent?: string;
  /** Sent at or after (ms since the epoch). */
  sinceMs?: number;
  /** Sent at or before (ms since the epoch). */
  untilMs?: number;
  /** Words the description holds, case ignored (of its first 1000 characters). */
  text?: string;
}

/** A listing's filters as people write them (`GET /jobs` query, `dan tasks` options). */
export interface FilterWords {
  status?: string | undefined;
  domain?: string | undefined;
  parent?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  text?: string | undefined;
}

/**
 * The filter those words ask for; a status or time that does not parse is an `InvalidInputError`
 * naming it as `names` says (`since` for the API, `--since` for the CLI).
 */
export function taskFilter(words: FilterWords, names: { since: string; until: string }): TaskFilter {
  return {
    ...(words.status !== undefined ? { statuses: parseStatuses(words.status) } : {}),
    ...(words.domain !== undefined ? { domain: words.domain } : {}),
    ...(words.parent !== undefined ? { parent: words.parent } : {}),
    ...(words.since !== undefined ? { sinceMs: parseTime(words.since, names.since) } : {}),
    ...(words.until !== undefined ? { untilMs: parseTime(words.until, names.until) } : {}),
    ...(words.text !== undefined ? { text: words.text } : {}),
  };
}

export interface ListedTask {
  id: string;
  status: string;
  client: string;
  domain: string | null;
  parent: string | null;
  description: string | null;
  sentAt: string;
  startedAt: string | null;
  completedAt: string | null;
  error: string | null;
  failureCode: string | null;
  attempts: number | null;
}

export interface TaskPage {
  tasks: ListedTask[];
  /** Where the next page starts; undefined when the index holds nothing older. */
  nextCursor: string | undefined;
}

interface Position { sentAtMs: number; taskId: string }

/** The opaque cursor of a position in the index: base64url of its time and task id. */
function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.sentAtMs, position.taskId])).toString('base64url');
}

function decodeCursor(cursor: string): Position {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && Number.isFinite(value[0]) && typeof value[1] === 'string') {
      return { sentAtMs: value[0] as number, taskId: value[1] };
    }
  } catch {
    // Answered below.
  }
  throw new InvalidInputError("the cursor is not one this API gave: pass next_cursor of the previous page as it was, or leave it out for the first page");
}

function matches(result: TaskResult, client: string, filter: TaskFilter): boolean {
  // The index is written by whoever may send tasks: a task is listed to the client its result names.
  if ((result.clientId ?? DEFAULT_CLIENT_ID) !== client) return false;
  if (filter.statuses !== undefined && filter.statuses.length > 0 && !filter.statuses.includes(result.status as DanStatus)) return false;
  if (filter.domain !== undefined && result.domain !== filter.domain) return false;
  if (filter.parent !== undefined && result.raw['parent_id'] !== filter.parent) return false;
  if (filter.text !== undefined && filter.text.trim() !== '') {
    const description = (result.raw['description'] ?? '').toLowerCase();
    if (!description.includes(filter.text.trim().toLowerCase())) return false;
  }
  return true;
}

function listed(result: TaskResult, sentAtMs: number): ListedTask {
  const failure = result.status === 'failed' ? readFailure(result.output) : undefined;
  return {
    id: result.taskId,
    status: result.status,
    client: result.clientId ?? DEFAULT_CLIENT_ID,
    domain: result.domain ?? null,
    parent: result.raw['parent_id'] ?? null,
    description: result.raw['description'] ?? null,
    sentAt: new Date(sentAtMs).toISOString(),
    startedAt: result.startedAt ?? null,
    completedAt: result.completedAt ?? null,
    error: result.error ?? null,
    failureCode: failure?.code ?? null,
    attempts: result.attempts ?? null,
  };
}

/**
 * One page of `client`'s tasks that pass `filter`, newest first. Tasks whose result has expired are
 * left out (their index entries go as newer tasks are indexed). A page ends when it holds `limit`
 * tasks, when the index ends, or after `MAX_SCANNED` entries: then it may hold fewer than `limit`,
 * and `nextCursor` says where to go on.
 */
export async function listTasks(
  redis: Redis, keys: Keys, client: string, filter: TaskFilter, page: { limit: number; cursor?: string },
): Promise<TaskPage> {
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > MAX_LIMIT) {
    throw new InvalidInputError(`limit takes a whole number from 1 to ${MAX_LIMIT}; got ${page.limit}`);
  }
  let position = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
  const minMs = filter.sinceMs ?? -Infinity;
  const tasks: ListedTask[] = [];
  let scanned = 0;
  // Entries at the position's own time come in reverse id order; those already passed are skipped by
  // offset when a whole batch of them is ties (thousands of tasks sent in one millisecond).
  let tieOffset = 0;
  for (;;) {
    const maxMs = Math.min(position?.sentAtMs ?? Infinity, filter.untilMs ?? Infinity);
    const batch = await readTaskIndex(redis, keys, client, { maxMs, minMs, offset: tieOffset, count: BATCH });
    const at = position;
    const fresh = at === undefined ? batch : batch.filter((e) => !(e.sentAtMs === at.sentAtMs && e.taskId >= at.taskId));
    if (fresh.length === 0) {
      if (batch.length < BATCH) return { tasks, nextCursor: undefined };
      tieOffset += batch.length;
      continue;
    }
    tieOffset = 0;
    const taken = fresh.slice(0, MAX_SCANNED - scanned);
    const results = await readResults(redis, keys, taken.map((e) => e.taskId));
    for (const [i, entry] of taken.entries()) {
      scanned++;
      position = entry;
      const result = results[i];
      if (result !== undefined && matches(result, client, filter)) {
        tasks.push(listed(result, entry.sentAtMs));
        if (tasks.length === page.limit) return { tasks, nextCursor: encodeCursor(entry) };
      }
    }
    if (scanned >= MAX_SCANNED) return { tasks, nextCursor: encodeCursor(position as Position) };
    if (batch.length < BATCH) return { tasks, nextCursor: undefined };
  }
}
