import type { Redis } from 'ioredis';
import { isTerminal } from '../../lib/protocol/result.js';
import type { TaskResult } from '../../lib/protocol/result.js';
import { parseTimedCall } from '../../lib/protocol/timed-call.js';
import type { Keys } from '../../lib/redis/keys.js';
import { getResult, readTaskLogs } from '../../lib/redis/task-store.js';
import { childIds } from './task-children.js';

/**
 * Where a job's time went: its attempts, its sub-tasks and theirs, each worker's model calls and tool
 * calls, the checks and the reviews, as spans over time (`GET /jobs/{id}/timeline`). Built from what
 * is recorded, never guessed: the result hashes (started_at, completed_at, attempts, the attempt
 * history of a failure) and the task log lines the agents write (a claim per attempt, "attempt N
 * ended", timed calls, checks and reviews with their durations). What a record does not say stays
 * null: the end of an attempt still running, or of an earlier attempt whose end line is gone.
 */

export const SPAN_KINDS = ['attempt', 'sub_task', 'model_call', 'tool_call', 'check', 'review'] as const;
export type SpanKind = (typeof SPAN_KINDS)[number];

export interface TimelineSpan {
  id: string;
  parent_id: string | null;
  kind: SpanKind;
  name: string;
  task_id: string;
  agent_id: string | null;
  start: string;
  end: string | null;
  duration_ms: number | null;
  status: string | null;
  /** Why a model call failed (its API error, a timeout); null for everything else. */
  error: string | null;
}

/** One task as the timeline reads it: its result, its log lines, and whose sub-task it is. */
export interface TimelineTask {
  result: TaskResult;
  logs: readonly string[];
  /** The parent's task id; undefined for the job itself. */
  parent?: string;
}

// Sub-tasks of sub-tasks are read too, within these bounds (a routed job has one level; a farm's agents may add one).
const MAX_DEPTH = 3;
const MAX_TASKS = 200;

const LINE = /^\[([^\]]+)\] ([^:\s]+): (.*)$/;
const ATTEMPT_ENDED = /^\[([^\]]+)\] attempt (\d+) ended: (.*)$/;
const CLAIMED = /^claimed (?:echo )?task \(attempt (\d+) of \d+/;
const CHECK = /^check (passed|failed) \(.*?(\d+) ms\): (.*)$/;
const REVIEW = /^review of round (\d+) \((\d+) ms\): (approve|request_changes)/;

interface Attempt { n: number; startMs: number; endMs: number | null; agent: string | null; status: string | null }

/** A time the records hold as ms since the epoch; NaN for text that is not one. */
const msOf = (iso: string | undefined): number => (iso === undefined || iso === '' ? Number.NaN : Date.parse(iso));

function span(fields: Omit<TimelineSpan, 'start' | 'end' | 'duration_ms' | 'error'> & { error?: string }, startMs: number, endMs: number | null): TimelineSpan {
  return {
    ...fields,
    error: fields.error ?? null,
    start: new Date(startMs).toISOString(),
    end: endMs === null ? null : new Date(endMs).toISOString(),
    duration_ms: endMs === null ? null : Math.max(0, endMs - startMs),
  };
}

/** The attempts of one task: from its claim lines and "attempt N ended" lines, its failure's attempt history, and its result. */
function attemptsOf(task: TimelineTask): Attempt[] {
  const { result } = task;
  const found = new Map<number, { startMs?: number; endMs?: number; agent?: string; reason?: string }>();
  const at = (n: number) => found.get(n) ?? found.set(n, {}).get(n)!;
  for (const line of task.logs) {
    const ended = ATTEMPT_ENDED.exec(line);
    if (ended) {
      const a = at(Number(ended[2]));
      a.endMs = msOf(ended[1]);
      a.reason = ended[3];
      continue;
    }
    const parts = LINE.exec(line);
    const claim = parts ? CLAIMED.exec(parts[3] as string) : null;
    if (parts && claim) {
      const a = at(Number(claim[1]));
      a.startMs = msOf(parts[1]);
      a.agent = parts[2] as string;
    }
  }
  const history = Array.isArray(result.output?.['attempt_history']) ? (result.output['attempt_history'] as Record<string, unknown>[]) : [];
  for (const h of history) {
    if (typeof h['attempt'] !== 'number') continue;
    const a = at(h['attempt']);
    if (typeof h['started_at'] === 'string' && Number.isFinite(msOf(h['started_at']))) a.startMs = msOf(h['started_at']);
    if (typeof h['ended_at'] === 'string' && Number.isFinite(msOf(h['ended_at']))) a.endMs = msOf(h['ended_at']);
    if (typeof h['agent'] === 'string' && a.agent === undefined) a.agent = h['agent'];
  }
  // No claim line kept (a log that expired or was cleared): the result still says when the last attempt began.
  if (found.size === 0 && Number.isFinite(msOf(result.startedAt))) {
    found.set(result.attempts ?? 1, { startMs: msOf(result.startedAt), ...(result.agentId ? { agent: result.agentId } : {}) });
  }
  const last = Math.max(...found.keys());
  const terminal = isTerminal(result.status);
  const attempts: Attempt[] = [];
  for (const [n, a] of [...found.entries()].sort(([x], [y]) => x - y)) {
    if (a.startMs === undefined || !Number.isFinite(a.startMs)) continue;
    const isLast = n === last;
    const endMs = a.endMs ?? (isLast && terminal && Number.isFinite(msOf(result.completedAt)) ? msOf(result.completedAt) : undefined);
    const status = isLast && terminal ? result.status : a.endMs !== undefined ? 'failed' : isLast && result.status === 'in_progress' ? 'in_progress' : null;
    attempts.push({ n, startMs: a.startMs, endMs: endMs !== undefined && Number.isFinite(endMs) ? endMs : null, agent: a.agent ?? null, status });
  }
  return attempts;
}

/** The span an event at `ms` of `taskId` belongs under: the attempt it happened in (the latest begun by then). */
function attemptAt(taskId: string, attempts: readonly Attempt[], ms: number, fallback: string | null): string | null {
  const begun = attempts.filter((a) => a.startMs <= ms).at(-1) ?? attempts[0];
  return begun === undefined ? fallback : `${taskId}:attempt:${begun.n}`;
}

/** The spans of a job and its sub-tasks, ordered by start. Pure: tested on plain data. */
export function timelineSpans(tasks: readonly TimelineTask[]): TimelineSpan[] {
  const attempts = new Map(tasks.map((t) => [t.result.taskId, attemptsOf(t)]));
  const spans: TimelineSpan[] = [];
  for (const task of tasks) {
    const id = task.result.taskId;
    const own = attempts.get(id) ?? [];
    let top: string | null = null;
    if (task.parent !== undefined) {
      // A sub-task is shown from its first attempt: one never started has no time to show (GET /jobs/{id} lists it).
      const first = own[0];
      if (first === undefined) continue;
      top = `sub_task:${id}`;
      const endMs = isTerminal(task.result.status) && Number.isFinite(msOf(task.result.completedAt)) ? msOf(task.result.completedAt) : null;
      spans.push(span({
        id: top, parent_id: attemptAt(task.parent, attempts.get(task.parent) ?? [], first.startMs, null), kind: 'sub_task',
        name: task.result.domain ?? id, task_id: id, agent_id: null, status: task.result.status,
      }, first.startMs, endMs));
    }
    for (const a of own) {
      spans.push(span({ id: `${id}:attempt:${a.n}`, parent_id: top, kind: 'attempt', name: `attempt ${a.n}`, task_id: id, agent_id: a.agent, status: a.status }, a.startMs, a.endMs));
    }
    for (const [i, line] of task.logs.entries()) {
      const parts = LINE.exec(line);
      if (!parts) continue;
      const endMs = msOf(parts[1]);
      if (!Number.isFinite(endMs)) continue;
      const agent = parts[2] as string;
      const message = parts[3] as string;
      const timed = parseTimedCall(message);
      const check = timed ? null : CHECK.exec(message);
      const review = timed || check ? null : REVIEW.exec(message);
      const ms = timed?.durationMs ?? Number(check?.[2] ?? review?.[2] ?? Number.NaN);
      if (!Number.isFinite(ms)) continue;
      const startMs = endMs - ms;
      const parent = attemptAt(id, own, startMs, top);
      if (timed) {
        spans.push(span({
          id: `${id}:${timed.kind}:${i}`, parent_id: parent, kind: timed.kind, task_id: id, agent_id: timed.workerId,
          name: timed.kind === 'model_call' ? `model call ${timed.turn}` : timed.tool,
          // A model call is recorded once it answered or failed; a failed one carries its error.
          status: (timed.kind === 'model_call' ? timed.error === undefined : timed.ok) ? 'ok' : 'error',
          ...(timed.kind === 'model_call' && timed.error !== undefined ? { error: timed.error } : {}),
        }, startMs, endMs));
      } else if (check) {
        spans.push(span({ id: `${id}:check:${i}`, parent_id: parent, kind: 'check', name: check[3] as string, task_id: id, agent_id: agent, status: check[1] as string }, startMs, endMs));
      } else if (review) {
        spans.push(span({ id: `${id}:review:${i}`, parent_id: parent, kind: 'review', name: `review of round ${review[1]}`, task_id: id, agent_id: agent, status: review[3] as string }, startMs, endMs));
      }
    }
  }
  // Spans that start together: the enclosing one first (a sub-task, then its first attempt, then what ran in it).
  const order = (k: SpanKind) => (['sub_task', 'attempt', 'model_call', 'tool_call', 'check', 'review'] as const).indexOf(k);
  return spans.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : order(a.kind) - order(b.kind) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
}

/** The timeline of `job` (a result the caller may see) and of its sub-tasks, read from Redis. */
export async function taskTimeline(redis: Redis, keys: Keys, job: TaskResult): Promise<{ job_id: string; spans: TimelineSpan[] }> {
  const tasks: TimelineTask[] = [];
  const seen = new Set<string>([job.taskId]);
  let level: Array<{ result: TaskResult; parent?: string }> = [{ result: job }];
  for (let depth = 0; level.length > 0 && depth < MAX_DEPTH; depth++) {
    const next: Array<{ result: TaskResult; parent?: string }> = [];
    for (const { result, parent } of level) {
      tasks.push({ result, logs: await readTaskLogs(redis, keys, result.taskId), ...(parent !== undefined ? { parent } : {}) });
      for (const child of await childIds(redis, keys, result.taskId, result)) {
        if (seen.has(child) || seen.size >= MAX_TASKS) continue;
        seen.add(child);
        const found = await getResult(redis, keys, child);
        if (found !== undefined) next.push({ result: found, parent: result.taskId });
      }
    }
    level = next;
  }
  return { job_id: job.taskId, spans: timelineSpans(tasks) };
}
