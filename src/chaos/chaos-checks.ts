import type { Redis } from '../../lib/redis/connection.js';
import type { Keys } from '../../lib/redis/keys.js';
import { isTerminal } from '../../lib/protocol/result.js';
import type { MalformedMessage } from './malformed-messages.js';

/**
 * What a chaos run reads back from Redis once the dust settles, as plain data: how each task ended,
 * what is left in the queues, which malformed messages reached a dead-letter list. Pure counting is
 * kept apart from the reads so the rules of "exactly once" are easy to see.
 */

/** Domains whose queues are inspected: the three that do the work, and main. */
export const CHAOS_DOMAINS = ['backend', 'frontend', 'devops'] as const;
export const QUEUE_DOMAINS = [...CHAOS_DOMAINS, 'main'] as const;

export interface TaskEndings {
  /** Every task id with a result hash, but the ids recovered from malformed messages. */
  taskIds: string[];
  status: Map<string, string>;
  /** The `error` of each failed task. */
  errors: Map<string, string>;
  /** `task.finished` events per task id in `dan:events`. */
  finishedEvents: Map<string, number>;
}

/** Reads every result hash (SCAN; the run has its own Redis) and counts `task.finished` events per task. */
export async function readTaskEndings(redis: Redis, keys: Keys, exclude: ReadonlySet<string>): Promise<TaskEndings> {
  const ids: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${keys.resultPrefix()}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      const id = key.slice(keys.resultPrefix().length);
      // results:{id}:logs lists share the prefix; task ids never end in ':logs'.
      if (!id.endsWith(':logs') && !exclude.has(id)) ids.push(id);
    }
  } while (cursor !== '0');
  const status = new Map<string, string>();
  const errors = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 500) {
    const slice = ids.slice(i, i + 500);
    const pipeline = redis.pipeline();
    for (const id of slice) pipeline.hmget(keys.result(id), 'status', 'error');
    const replies = (await pipeline.exec()) ?? [];
    slice.forEach((id, j) => {
      const [state, error] = (replies[j]?.[1] ?? []) as (string | null)[];
      status.set(id, state ?? '');
      if (state === 'failed') errors.set(id, error ?? '');
    });
  }
  const finishedEvents = new Map<string, number>();
  let start = '-';
  for (;;) {
    const rows = (await redis.xrange(keys.events(), start, '+', 'COUNT', 1000)) as [string, string[]][];
    for (const [, fields] of rows) {
      const map = fieldMap(fields);
      if (map['type'] === 'task.finished' && map['task_id']) finishedEvents.set(map['task_id'], (finishedEvents.get(map['task_id']) ?? 0) + 1);
    }
    if (rows.length < 1000) break;
    start = `(${rows[rows.length - 1]?.[0] ?? '0'}`;
  }
  return { taskIds: ids, status, errors, finishedEvents };
}

export interface EndingCounts {
  completed: number;
  failed: number;
  /** Valid tasks that never reached `completed` or `failed`. */
  lostIds: string[];
  /** Tasks that ended more than once (events or published endings). */
  duplicateIds: string[];
  /** Tasks that ended but left no `task.finished` event. */
  unrecordedIds: string[];
}

/** Exactly once: one terminal status, one event, at most one published ending per task. */
export function countEndings(endings: TaskEndings, submitted: readonly string[], published: ReadonlyMap<string, number>): EndingCounts {
  const all = new Set([...endings.taskIds, ...submitted]);
  const counts: EndingCounts = { completed: 0, failed: 0, lostIds: [], duplicateIds: [], unrecordedIds: [] };
  for (const id of all) {
    const status = endings.status.get(id);
    const events = endings.finishedEvents.get(id) ?? 0;
    if (status === 'completed') counts.completed += 1;
    else if (status === 'failed') counts.failed += 1;
    if (!isTerminal(status)) counts.lostIds.push(id);
    if (events > 1 || (published.get(id) ?? 0) > 1) counts.duplicateIds.push(id);
    if (isTerminal(status) && events === 0) counts.unrecordedIds.push(id);
  }
  return counts;
}

/**
 * Why tasks failed, counted by message with agent ids, task ids and numbers blanked, so that
 * "gave up after 3 attempts; agent backend-1a2b3c4d exited" reads as one reason.
 */
export function failureReasons(errors: ReadonlyMap<string, string>): Record<string, number> {
  const reasons: Record<string, number> = {};
  for (const error of errors.values()) {
    const reason = error
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<task>')
      .replace(/\b([a-z]+)-[0-9a-f]{8}\b/g, '$1-<agent>')
      .replace(/\d+/g, 'N')
      .slice(0, 200);
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  }
  return reasons;
}

/** What is left where nothing should be once every task ended: key -> length. */
export async function leftInQueues(redis: Redis, keys: Keys): Promise<Record<string, number>> {
  const pipeline = redis.pipeline();
  const names: string[] = [];
  for (const domain of QUEUE_DOMAINS) {
    const lists = [keys.active(domain), keys.pending(domain), keys.ingest(domain), keys.ready(domain, 'high'), keys.ready(domain, 'normal'), keys.ready(domain, 'low')];
    for (const key of lists) { names.push(key); pipeline.llen(key); }
    for (const key of [keys.delayed(domain), keys.leases(domain)]) { names.push(key); pipeline.zcard(key); }
  }
  const replies = (await pipeline.exec()) ?? [];
  const left: Record<string, number> = {};
  names.forEach((key, i) => {
    const n = Number(replies[i]?.[1] ?? 0);
    if (n > 0) left[key] = n;
  });
  return left;
}

export interface DeadLetterMatch {
  matched: number;
  /** Malformed messages found in no dead-letter list (kind, domain, first 80 characters). */
  missing: { kind: string; domain: string; raw: string }[];
  /** Recoverable ids whose task is not `failed`. */
  recoveredNotFailed: string[];
}

/** Finds each malformed message by its exact text among the dead-letter envelopes of its domain (else any domain). */
export async function matchDeadLetters(redis: Redis, keys: Keys, messages: readonly MalformedMessage[]): Promise<DeadLetterMatch> {
  const byDomain = new Map<string, Map<string, number>>();
  for (const domain of QUEUE_DOMAINS) {
    const bag = new Map<string, number>();
    for (const entry of await redis.lrange(keys.dead(domain), 0, -1)) {
      let raw: unknown;
      try {
        raw = (JSON.parse(entry) as { raw?: unknown }).raw;
      } catch {
        continue;
      }
      if (typeof raw === 'string') bag.set(raw, (bag.get(raw) ?? 0) + 1);
    }
    byDomain.set(domain, bag);
  }
  const take = (bag: Map<string, number> | undefined, raw: string): boolean => {
    const n = bag?.get(raw) ?? 0;
    if (n === 0 || !bag) return false;
    bag.set(raw, n - 1);
    return true;
  };
  const result: DeadLetterMatch = { matched: 0, missing: [], recoveredNotFailed: [] };
  for (const message of messages) {
    if (take(byDomain.get(message.domain), message.raw) || [...byDomain.values()].some((bag) => take(bag, message.raw))) result.matched += 1;
    else result.missing.push({ kind: message.kind, domain: message.domain, raw: message.raw.slice(0, 80) });
  }
  for (const message of messages) {
    if (!message.recoverableId) continue;
    if ((await redis.hget(keys.result(message.recoverableId), 'status')) !== 'failed') result.recoveredNotFailed.push(message.recoverableId);
  }
  return result;
}

const CLAIM_LINE = /^\[([^\]]+)\] \S+: claimed (?:echo )?task \(attempt (\d+)/;

/** When a task was claimed after `afterMs` (its log's `claimed ... (attempt N` lines), or undefined. */
export async function firstClaimAfter(redis: Redis, keys: Keys, taskId: string, afterMs: number): Promise<number | undefined> {
  for (const line of await redis.lrange(keys.logs(taskId), 0, -1)) {
    const found = CLAIM_LINE.exec(line);
    if (!found) continue;
    const at = Date.parse(found[1] as string);
    if (at >= afterMs) return at;
  }
  return undefined;
}

/** The first task completed after `afterMs`, from the stream ids of `dan:events` (Redis' clock, ms). */
export async function firstCompletionAfter(redis: Redis, keys: Keys, afterMs: number): Promise<number | undefined> {
  let start = String(afterMs);
  for (;;) {
    const rows = (await redis.xrange(keys.events(), start, '+', 'COUNT', 500)) as [string, string[]][];
    for (const [id, fields] of rows) {
      const map = fieldMap(fields);
      if (map['type'] === 'task.finished' && map['status'] === 'completed') return Number(id.split('-')[0]);
    }
    if (rows.length < 500) return undefined;
    start = `(${rows[rows.length - 1]?.[0] ?? '0'}`;
  }
}

function fieldMap(fields: string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i] as string] = fields[i + 1] as string;
  return map;
}

/** The p-th percentile (nearest rank) of numbers, NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}
