import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { isoNow, systemClock } from '../clock.js';
import { oneLine } from '../errors.js';
import type { Keys } from './keys.js';
import { isValidTaskId, taskIdProblem } from '../protocol/task.js';
import { retryDeadLetterScript } from './lua/queue-scripts.js';

/**
 * One item of a `tasks:dead:{domain}` list. Envelopes are `{id, reason, raw, domain, dead_lettered_at,
 * task_id?}`; older ones lack `id`, and a client may have pushed anything at all, which is kept as it
 * is (`envelope: false`, reason `unknown`, the whole item as `raw`).
 */
export interface DeadLetter {
  /** What a person types to name it: the entry's `id`, else `{domain}:{index}`. */
  ref: string;
  id?: string;
  /** The list it is in (`tasks:dead:{domain}`). */
  domain: string;
  /** Position in its list counted from the oldest entry, so new dead letters do not shift it. */
  index: number;
  deadLetteredAt?: string;
  taskId?: string;
  reason: string;
  /** The input exactly as it was received (text; `item` holds the bytes). */
  raw: string;
  envelope: boolean;
  /** The list item byte for byte: what removal matches on. */
  item: Buffer;
}

/** Whether a raw input can be queued as a task again, and the task id its result hash is under. */
export type TaskCheck = { ok: true; taskId?: string } | { ok: false; why: string };

/** What `retry` did with one entry. */
export type RetryOutcome = 'moved' | 'gone' | 'not_a_task';

/** Reads one list item; never throws, whatever a client wrote there. */
export function parseDeadLetter(item: Buffer | string, domain: string, index: number): DeadLetter {
  const bytes = typeof item === 'string' ? Buffer.from(item) : item;
  const text = bytes.toString('utf8');
  const envelope = asObject(text);
  const base = { domain, index, item: bytes };
  if (!envelope || typeof envelope['raw'] !== 'string') {
    return { ...base, ref: `${domain}:${index}`, reason: 'unknown', raw: text, envelope: false, ...optionalTaskId(taskIdIn(text)) };
  }
  const raw = envelope['raw'];
  const id = nonEmptyString(envelope['id']);
  const at = nonEmptyString(envelope['dead_lettered_at']);
  return {
    ...base,
    ref: id ?? `${domain}:${index}`,
    ...(id !== undefined ? { id } : {}),
    ...(at !== undefined ? { deadLetteredAt: at } : {}),
    ...optionalTaskId(nonEmptyString(envelope['task_id']) ?? taskIdIn(raw)),
    reason: nonEmptyString(envelope['reason']) ?? 'unknown',
    raw,
    envelope: true,
  };
}

/** A task must be a JSON object (protocol.md); anything else would only be dead-lettered again. */
export function checkTask(raw: string): TaskCheck {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return { ok: false, why: `it is not JSON (${(error as Error).message})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, why: `it is JSON but not an object (${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`})` };
  }
  const taskId = nonEmptyString((value as Record<string, unknown>)['task_id']);
  const problem = taskId === undefined ? undefined : taskIdProblem(taskId);
  if (problem !== undefined) return { ok: false, why: `its ${problem}` };
  return { ok: true, ...optionalTaskId(taskId) };
}

/**
 * The entries a ref names: those with that `id`, else those of that task id, else `{domain}:{index}`.
 * More than one match means the ref is ambiguous (a task dead-lettered twice).
 */
export function matchRef(entries: DeadLetter[], ref: string): DeadLetter[] {
  const byId = entries.filter((e) => e.id === ref);
  if (byId.length > 0) return byId;
  const byTask = entries.filter((e) => e.taskId === ref);
  if (byTask.length > 0) return byTask;
  const position = /^(.+):(\d+)$/.exec(ref);
  if (!position) return [];
  return entries.filter((e) => e.domain === position[1] && e.index === Number(position[2]));
}

/** Newest first across lists: by time; an entry without one keeps its place next to its older neighbour. */
export function newestFirst(lists: DeadLetter[][]): DeadLetter[] {
  const keyed: { entry: DeadLetter; at: number }[] = [];
  for (const list of lists) {
    let at = 0;
    // Lists hold the newest at the head; walk from the oldest so an undated entry inherits a time.
    for (const entry of [...list].reverse()) {
      const own = entry.deadLetteredAt === undefined ? Number.NaN : Date.parse(entry.deadLetteredAt);
      if (Number.isFinite(own)) at = own;
      keyed.push({ entry, at });
    }
  }
  // Ties (same millisecond, same list) keep the list's order: the later index is the newer.
  return keyed.sort((a, b) => b.at - a.at || (a.entry.domain === b.entry.domain ? b.entry.index - a.entry.index : 0)).map((k) => k.entry);
}

/**
 * The dead-letter lists of one network (one key prefix): read them, put entries back on a queue, and
 * delete them. Every removal matches the exact item, so concurrent users never remove or move the
 * wrong entry, and a retry is one atomic script.
 */
export class DeadLetters {
  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly clock: Clock = systemClock) {}

  /** Domains that have a dead-letter list, sorted. */
  async domains(): Promise<string[]> {
    const base = this.keys.dead('');
    const pattern = `${base.replace(/[*?[\]\\]/g, '\\$&')}*`;
    const found = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) found.add(key);
    } while (cursor !== '0');
    const names = [...found];
    const types = await Promise.all(names.map((key) => this.redis.type(key)));
    return names.filter((_key, i) => types[i] === 'list').map((key) => key.slice(base.length)).sort();
  }

  /** Every entry of one domain's list, or of all of them, newest first. */
  async read(domain?: string): Promise<DeadLetter[]> {
    const domains = domain === undefined ? await this.domains() : [domain];
    const lists = await Promise.all(domains.map(async (d) => {
      const items = await this.redis.lrangeBuffer(this.keys.dead(d), 0, -1);
      return items.map((item, i) => parseDeadLetter(item, d, items.length - 1 - i));
    }));
    return newestFirst(lists);
  }

  /**
   * Queues an entry's input on `tasks:pending:{to}` and removes the entry, atomically; when the input
   * carries a task id, its result hash says `pending` again (and keeps a log line saying why).
   */
  async retry(entry: DeadLetter, to: string, by = 'cli'): Promise<RetryOutcome> {
    const check = checkTask(entry.raw);
    if (!check.ok) return 'not_a_task';
    const k = this.keys;
    const line = check.taskId === undefined ? '' : `[${isoNow(this.clock)}] ${by}: ${oneLine(
      `retried from the dead letters of ${entry.domain} onto ${to} (dead-lettered${entry.deadLetteredAt ? ` at ${entry.deadLetteredAt}` : ''}: ${entry.reason})`)}`;
    const moved = Number(await retryDeadLetterScript.run(this.redis, {
      keys: { dead: k.dead(entry.domain), pending: k.pending(to), logStream: k.logStream() },
      args: { entry: entry.item, taskId: check.taskId ?? '', domain: to, notifications: k.notifications(to), logLine: line, by, keyPrefix: k.prefix },
    }));
    return moved === 1 ? 'moved' : moved === -1 ? 'not_a_task' : 'gone';
  }

  /** Deletes entries; returns how many were still there to delete. */
  async purge(entries: DeadLetter[]): Promise<number> {
    let removed = 0;
    for (let i = 0; i < entries.length; i += 500) {
      const pipeline = this.redis.pipeline();
      for (const entry of entries.slice(i, i + 500)) pipeline.lrem(this.keys.dead(entry.domain), 1, entry.item);
      for (const [error, count] of (await pipeline.exec()) ?? []) {
        if (error) throw error;
        removed += Number(count);
      }
    }
    return removed;
  }
}

function asObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function optionalTaskId(taskId: string | undefined): { taskId?: string } {
  return taskId === undefined ? {} : { taskId };
}

/** The task id of a JSON object, or one found in broken JSON text the way the queue recovers it. */
function taskIdIn(raw: string): string | undefined {
  const object = asObject(raw);
  const id = object ? nonEmptyString(object['task_id']) : /"task_id"\s*:\s*"([^"\\]+)"/.exec(raw)?.[1];
  return isValidTaskId(id) ? id : undefined;
}
