import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { isoNow, systemClock } from '../clock.js';
import { oneLine } from '../errors.js';
import type { Scrubber } from '../scrub.js';
import { scrubText } from '../scrub.js';
import type { TaskResult } from '../protocol/result.js';
import { readResultHash } from '../protocol/result.js';
import { DanError, ExitCode, InvalidInputError, QueueFullError } from '../errors.js';
import type { NewTaskInput } from '../protocol/task.js';
import { buildTaskJson, taskIdProblem } from '../protocol/task.js';
import { DEFAULT_CLIENT_ID } from '../protocol/client-id.js';
import type { Keys } from './keys.js';
import { connectionEpoch, waitForReplicas } from './connection.js';
import { submitScript } from './lua/queue-scripts.js';

const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;

/** How much of a description a task's result keeps for listings (`dan tasks`, `GET /jobs`) and their text search. */
export const INDEXED_DESCRIPTION_CHARS = 1000;

/**
 * How far back a client's task index (`dan:jobs:{client}`) reaches: twice the result retention. A result
 * expires `retentionMs` after its task ends, so a task sent longer ago than this has, short of running
 * for a whole retention period, no result left to list; older entries are dropped as new tasks are indexed.
 */
export function indexSpanMs(retentionMs: number): number {
  return 2 * retentionMs;
}

/** How often one process trims a client's task index while it submits: a trim per submit was a command per task for nothing. */
const INDEX_TRIM_EVERY_MS = 1_000;
const lastIndexTrim = new Map<string, number>();

/**
 * The cut-off to trim `jobsKey` at with this submit, or '' when this process trimmed it less than
 * INDEX_TRIM_EVERY_MS ago (a one-off sender, such as `dan send`, trims every time).
 */
function indexTrimBefore(jobsKey: string, now: number, retentionMs: number): number | '' {
  const last = lastIndexTrim.get(jobsKey);
  if (last !== undefined && now - last < INDEX_TRIM_EVERY_MS && now >= last) return '';
  if (lastIndexTrim.size >= 10_000) lastIndexTrim.clear();
  lastIndexTrim.set(jobsKey, now);
  return now - indexSpanMs(retentionMs);
}

export type SubmitInput = NewTaskInput & { taskId?: string };

export interface SubmitOptions {
  /** How long results and a parent's list of children are kept; default 7 days (DAN_RETENTION_MS). */
  retentionMs?: number;
  /**
   * Refuse the task (QueueFullError) when its domain's queue holds this many tasks already
   * (DAN_MAX_QUEUE_DEPTH; 0 or absent: no limit), checked in the submit's own atomic step.
   */
  maxQueueDepth?: number;
  /**
   * Lines of the parent's log written in the same step, after the task is queued (the main orchestrator's
   * `routed` and `delegated` lines, lib/runtime/task-log.ts), already formatted; nothing is written when
   * the task is refused. `agentId` and `domain` are the parent's agent's, for the log stream.
   */
  parentLog?: { agentId: string; domain: string; lines: readonly string[] };
  /**
   * The parent's plan (JSON), stored at `dan:plan:{parent}` for `ttlMs` in the same step unless a plan is
   * stored there already; another plan stored there refuses the task (`PlanStoodError`, with that plan),
   * so two attempts of one parent never queue sub-tasks of two plans.
   */
  parentPlan?: { json: string; ttlMs: number };
}

/** A sub-task refused because its parent has another plan stored, which stands: `plan` is its JSON. */
export class PlanStoodError extends Error {
  constructor(readonly plan: string) {
    super('another plan of this task is stored already; that plan stands');
    this.name = 'PlanStoodError';
  }
}

/**
 * Queues a task the way protocol.md tells outside clients to, in one atomic step (see lua/submit-5.lua).
 * An id that breaks the id rule (lib/protocol/task.ts) is refused here, before any key is written; so is
 * an id that already has a result, since the new task would overwrite another's result or run twice,
 * and, with `maxQueueDepth`, a task for a domain whose queue is full.
 */
export async function submitTask(
  redis: Redis, keys: Keys, input: SubmitInput, clock: Clock = systemClock, options: SubmitOptions = {},
): Promise<{ taskId: string; raw: string }> {
  const taskId = input.taskId ?? randomUUID();
  const problem = taskIdProblem(taskId);
  if (problem !== undefined) throw new InvalidInputError(`${problem}; pick another id, or leave it out and a UUID is used`);
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const maxDepth = options.maxQueueDepth ?? 0;
  const raw = buildTaskJson(input, taskId, isoNow(clock));
  const parent = input.parentId ?? '';
  const client = taskClientId(input);
  const now = clock.now();
  const description = input.description.slice(0, INDEXED_DESCRIPTION_CHARS);
  const waiting = keys.waiting(input.domain);
  const epoch = connectionEpoch(redis);
  const jobs = keys.jobs(client ?? DEFAULT_CLIENT_ID);
  const run = submitScript.run(redis, {
    keys: {
      result: keys.result(taskId), pending: waiting.pending, notifications: keys.notifications(input.domain),
      children: keys.children(parent || taskId), jobs,
    },
    args: {
      taskId, raw, domain: input.domain, parentId: parent, childrenTtlMs: retentionMs, clientId: client ?? '',
      description, nowMs: now, trimBeforeMs: indexTrimBefore(jobs, now, retentionMs), maxDepth,
      ingest: waiting.ingest, readyHigh: waiting.readyHigh, readyNormal: waiting.readyNormal, readyLow: waiting.readyLow, delayed: waiting.delayed,
      ...parentLogArgs(keys, parent, options.parentLog),
      ...(parent && options.parentPlan
        ? { planKey: keys.plan(parent), plan: options.parentPlan.json, planTtlMs: options.parentPlan.ttlMs }
        : { planKey: '', plan: '', planTtlMs: '' }),
    },
    ...(parent && options.parentLog?.lines.length ? { rest: options.parentLog.lines } : {}),
  });
  // A command dropped with its connection (a failover): whether the task got to the Redis serving
  // after the reconnect is read there; if it never did, it is sent again.
  const dropped = async (error: unknown) => {
    if (!/Command aborted due to connection close/.test((error as Error).message)) throw error;
    if (await sameTask(redis, keys, taskId, input.domain, description)) return { taskId, raw };
    return submitTask(redis, keys, { ...input, taskId }, clock, options);
  };
  let reply: [number, (string | number)?];
  try {
    reply = (await run) as [number, (string | number)?];
  } catch (error) {
    return dropped(error);
  }
  const [outcome, detail] = reply;
  const reconnected = () => connectionEpoch(redis) !== epoch;
  if (outcome === 2) throw new QueueFullError(input.domain, Number(detail), maxDepth);
  if (outcome === 3) throw new PlanStoodError(String(detail));
  if (outcome !== 1) {
    // Sent again after a failover, the submit finds the task its first run wrote (and the old
    // master passed on): that one is this task, not another's id.
    if (reconnected() && (await sameTask(redis, keys, taskId, input.domain, description))) return { taskId, raw };
    throw new InvalidInputError(`task id ${taskId} is already used (status ${detail ?? 'unknown'}): choose another id`);
  }
  let wait: Awaited<ReturnType<typeof waitForReplicas>>;
  try {
    wait = await waitForReplicas(redis);
  } catch (error) {
    return dropped(error);
  }
  // Answered by a master that died before passing the task on: the Redis serving now never had it.
  if (reconnected() && (await redis.exists(keys.result(taskId))) === 0) return submitTask(redis, keys, { ...input, taskId }, clock, options);
  if (wait && wait.confirmed < wait.wanted && !reconnected()) {
    throw new DanError('redis_not_replicated', `task ${taskId} is queued, but only ${wait.confirmed} of the ${wait.wanted} replicas DAN_REDIS_WAIT_REPLICAS asks for had it within ${wait.timeoutMs} ms: a failover now would lose it. Check it with 'dan status ${taskId}'; bring the replicas back, or lower DAN_REDIS_WAIT_REPLICAS`, { retryable: true, exitCode: ExitCode.redisUnreachable });
  }
  return { taskId, raw };
}

/** The submit script's arguments for the parent's log lines it writes ('' each when it writes none). */
function parentLogArgs(keys: Keys, parent: string, log: SubmitOptions['parentLog']): { parentLogs: string; logStream: string; logAgent: string; logDomain: string } {
  if (!parent || !log?.lines.length) return { parentLogs: '', logStream: '', logAgent: '', logDomain: '' };
  return { parentLogs: keys.logs(parent), logStream: keys.logStream(), logAgent: log.agentId, logDomain: log.domain };
}

/** Whether the task `taskId` on Redis is the one being submitted: same domain and description. */
async function sameTask(redis: Redis, keys: Keys, taskId: string, domain: string, description: string): Promise<boolean> {
  const [storedDomain, storedDescription] = await redis.hmget(keys.result(taskId), 'domain', 'description');
  return storedDomain === domain && storedDescription === description;
}

/** The client a task is sent for (`metadata.client_id`), as its result records it; undefined for none. */
export function taskClientId(input: Pick<SubmitInput, 'extraMetadata'>): string | undefined {
  const id = input.extraMetadata?.['client_id'];
  return typeof id === 'string' && id !== '' ? id : undefined;
}

export async function getResult(redis: Redis, keys: Keys, taskId: string): Promise<TaskResult | undefined> {
  return readResultHash(taskId, await redis.hgetall(keys.result(taskId)));
}

export interface LogEntry {
  taskId: string;
  agentId: string;
  domain: string;
  /** `[<ISO>] <message>`, exactly as in `results:{id}:logs`. */
  line: string;
  /** Stream entry id, for following. */
  id?: string;
  /** True for a line the agent printed (`appendAgentOutput`), not a task log line. */
  output?: boolean;
}

/** Whose log a line goes to, and who writes it. */
export interface LogOwner {
  taskId: string;
  agentId: string;
  domain: string;
}

/** One progress line as the task's log stores it: `[<ISO>] <agent>: <message>`, scrubbed, on one line. */
export function formatLogLine(agentId: string, message: string, at: string, scrub: Pick<Scrubber, 'text'> = { text: scrubText }): string {
  return `[${at}] ${agentId}: ${scrub.text(oneLine(message))}`;
}

/**
 * Appends one progress line to a task's log (protocol.md) and to the network-wide log stream that
 * `dan logs --follow` reads, in one round trip. The message names the agent.
 */
export async function appendLog(redis: Redis, keys: Keys, entry: LogOwner & { message: string }, clock: Clock = systemClock): Promise<void> {
  await appendLogLines(redis, keys, entry, [formatLogLine(entry.agentId, entry.message, isoNow(clock))]);
}

/** Appends lines already formatted (`formatLogLine`) to a task's log and to the log stream, in order, in one round trip. */
export async function appendLogLines(redis: Redis, keys: Keys, owner: LogOwner, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  // Plain commands, not a MULTI-less pipeline: an explicit pipeline is a socket write of its own,
  // while these join whatever else this tick sends (the connection's auto-pipelining), and that one
  // write per log line had been a fifth of the main orchestrator's busy time.
  await Promise.all([
    redis.rpush(keys.logs(owner.taskId), ...lines),
    ...lines.map((line) => redis.xadd(keys.logStream(), 'MAXLEN', '~', '20000', '*', 'task', owner.taskId, 'agent', owner.agentId, 'domain', owner.domain, 'line', line)),
  ]);
}

export async function readTaskLogs(redis: Redis, keys: Keys, taskId: string, from = 0): Promise<string[]> {
  return redis.lrange(keys.logs(taskId), from, -1);
}

/** Reads the network-wide log stream after `afterId` ('$' only new, '0' from the start); blocks up to `blockMs`. */
export async function readLogStream(redis: Redis, keys: Keys, afterId: string, blockMs: number, count = 500): Promise<LogEntry[]> {
  const reply = (await redis.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', keys.logStream(), afterId)) as
    | [string, [string, string[]][]][]
    | null;
  return toEntries(reply?.[0]?.[1] ?? []);
}

/**
 * The last `count` entries of the log stream, oldest first; with `beforeId`, the last ones before that
 * entry, for paging back until enough lines pass a filter.
 */
export async function tailLogStream(redis: Redis, keys: Keys, count: number, beforeId?: string): Promise<LogEntry[]> {
  const rows = (await redis.xrevrange(keys.logStream(), beforeId ? `(${beforeId}` : '+', '-', 'COUNT', count)) as [string, string[]][];
  return toEntries(rows.reverse());
}

/**
 * Adds a line a domain agent printed (its own log, a crash, a config error) to the log stream with
 * no task, so `dan logs` shows the output of agents run as processes as it shows containers'.
 */
export async function appendAgentOutput(redis: Redis, keys: Keys, entry: { agentId: string; domain: string; line: string }): Promise<void> {
  await redis.xadd(keys.logStream(), 'MAXLEN', '~', '20000', '*', 'task', '', 'agent', entry.agentId, 'domain', entry.domain, 'line', entry.line, 'output', '1');
}

function toEntries(rows: [string, string[]][]): LogEntry[] {
  return rows.map(([id, fields]) => {
    const map: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i] as string] = fields[i + 1] as string;
    return { id, taskId: map['task'] ?? '', agentId: map['agent'] ?? '', domain: map['domain'] ?? '', line: map['line'] ?? '', ...(map['output'] ? { output: true } : {}) };
  });
}
