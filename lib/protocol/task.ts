import { z } from 'zod';
import { budgetUsdSchema } from './budget.js';

/** Priority names on the wire, highest first: the order consumers honour. */
export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const DEFAULT_TIMEOUT_SECONDS = 300;
/** 7 days: a longer timer overflows setTimeout (about 24.8 days) long before it is useful. */
export const MAX_TIMEOUT_SECONDS = 7 * 24 * 3600;
/** Attempts one task may ask for: each is a full run, and a model that always fails must stop somewhere. */
export const MAX_ATTEMPTS_CAP = 20;

/**
 * Sizes a task may have, in UTF-8 bytes: text from anyone who can push to Redis is copied into logs,
 * prompts and memory, so it is refused once, where it is parsed, rather than carried everywhere.
 * From DAN_MAX_TASK_BYTES, DAN_MAX_DESCRIPTION_BYTES and DAN_MAX_CONTEXT_BYTES (0: no limit).
 */
export interface TaskLimits {
  maxTaskBytes: number;
  maxDescriptionBytes: number;
  maxContextBytes: number;
}

/** The settings' defaults: 1 MB raw task, 64 KB description, 256 KB context. */
export const DEFAULT_TASK_LIMITS: TaskLimits = { maxTaskBytes: 1024 * 1024, maxDescriptionBytes: 64 * 1024, maxContextBytes: 256 * 1024 };

const jsonObject = z.record(z.string(), z.unknown());

/**
 * Where a completed task's branch goes when its workspace is a git repository (lib/workspace/task-branch.ts):
 * merged into the workspace's current branch, left on its branch, or pushed to a remote.
 */
export const DELIVERIES = ['merge', 'branch', 'push'] as const;
export type Delivery = (typeof DELIVERIES)[number];

/**
 * What a task id may be, defined once: ids become parts of Redis key names (`results:{id}`,
 * `results:{id}:logs`, `dan:task:{id}`), so an id holding `:` or ending like another key of the layout
 * (`x:logs`), holding whitespace, or kilobytes long could collide with or bloat other keys. UUIDs, the
 * ids the queue assigns, and `{parent}-{domain}` sub-task ids all fit. The claim script checks the same
 * rule with the Lua pattern generated from these classes (`taskIdLuaCheck`), so the two cannot drift.
 */
export const TASK_ID_RULE = {
  maxLength: 128,
  /** Characters an id may start with: letters, digits and `_`. */
  first: ['A-Z', 'a-z', '0-9', '_'],
  /** Characters allowed after the first: the above and `.` and `-`. */
  rest: ['A-Z', 'a-z', '0-9', '_', '.', '-'],
} as const;

/** The rule in words, for error messages and dead-letter reasons. */
export const TASK_ID_RULE_TEXT =
  `a task id is 1-${TASK_ID_RULE.maxLength} characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'`;

/** One character class from the rule's parts: ranges as they are, single characters escaped. */
function charClass(parts: readonly string[], escape: (c: string) => string): string {
  return `[${parts.map((p) => (p.length === 1 && !/[A-Za-z0-9_]/.test(p) ? escape(p) : p)).join('')}]`;
}

export const TASK_ID_PATTERN = new RegExp(
  `^${charClass(TASK_ID_RULE.first, (c) => `\\${c}`)}${charClass(TASK_ID_RULE.rest, (c) => `\\${c}`)}{0,${TASK_ID_RULE.maxLength - 1}}$`,
);

/** A Lua expression over `id` (a string) that is true when it follows the rule: generated, not written. */
export function taskIdLuaCheck(id: string): string {
  const first = charClass(TASK_ID_RULE.first, (c) => `%${c}`);
  const rest = charClass(TASK_ID_RULE.rest, (c) => `%${c}`);
  return `(#${id} <= ${TASK_ID_RULE.maxLength} and string.find(${id}, '^${first}${rest}*$') ~= nil)`;
}

/** Whether `id` may be a task id (see `TASK_ID_RULE`). */
export function isValidTaskId(id: unknown): id is string {
  return typeof id === 'string' && TASK_ID_PATTERN.test(id);
}

/** Why `id` cannot be a task id, naming the rule; undefined when it can. Long ids are shortened. */
export function taskIdProblem(id: string): string | undefined {
  if (TASK_ID_PATTERN.test(id)) return undefined;
  const shown = id.length > 60 ? `${id.slice(0, 60)}... (${id.length} characters)` : id;
  return `invalid task id ${JSON.stringify(shown)}: ${TASK_ID_RULE_TEXT}`;
}

export const taskIdSchema = z.string().regex(TASK_ID_PATTERN, { error: TASK_ID_RULE_TEXT });

export const taskPayloadSchema = z.looseObject({
  description: z.string().optional(),
  requirements: z.array(z.string(), { error: 'must be a list of strings' }).optional(),
  context: jsonObject.optional(),
});

/**
 * How a task's own checks (`metadata.verify`) combine with its domain's (`verify:` in domain.md):
 * `add` (the default) runs the domain's, then the task's; `replace` runs the task's alone.
 */
export const VERIFY_MODES = ['add', 'replace'] as const;
export type VerifyMode = (typeof VERIFY_MODES)[number];
/** Checks one task may name: each is a command run after every worker round. */
export const MAX_TASK_CHECKS = 20;

export const taskMetadataSchema = z.looseObject({
  priority: z.enum(PRIORITIES, { error: 'must be low, normal or high' }).optional(),
  timeout_seconds: z.number({ error: 'must be a number' })
    .positive({ error: 'must be a positive number of seconds' })
    .max(MAX_TIMEOUT_SECONDS, { error: `must be at most ${MAX_TIMEOUT_SECONDS} seconds (7 days)` })
    .optional(),
  parent_id: z.string().optional(),
  max_attempts: z.number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .positive({ error: 'must be at least 1' })
    .max(MAX_ATTEMPTS_CAP, { error: `must be at most ${MAX_ATTEMPTS_CAP}` })
    .optional(),
  client_id: z.string().optional(),
  /** How the task's branch is delivered when the workspace is a git repository; DAN_TASK_DELIVERY when absent. */
  delivery: z.enum(DELIVERIES, { error: 'must be merge, branch or push' }).optional(),
  /** Absolute end (ISO-8601) inherited from a parent: the task fails by then whatever its own timeout. */
  deadline: z.iso.datetime({ offset: true, error: 'must be an ISO-8601 time such as 2026-01-01T00:00:00Z' }).optional(),
  /** Commands run in the task's workspace after its workers (see `verify_mode`). */
  verify: z.array(z.string({ error: 'items must be commands (text)' }).trim().min(1, { error: 'items must not be empty' }), { error: 'must be a list of commands' })
    .max(MAX_TASK_CHECKS, { error: `must name at most ${MAX_TASK_CHECKS} checks` })
    .optional(),
  verify_mode: z.enum(VERIFY_MODES, { error: 'must be add or replace' }).optional(),
  /** The task waits in `awaiting_approval` before its work starts until a person approves it (lib/redis/approvals.ts). */
  approval: z.boolean({ error: 'must be true or false' }).optional(),
  /** How long it may await approval before it fails `approval_timeout`; DAN_APPROVAL_WINDOW_MS when absent. */
  approval_timeout_seconds: z.number({ error: 'must be a number' })
    .positive({ error: 'must be a positive number of seconds' })
    .max(MAX_TIMEOUT_SECONDS * 4, { error: `must be at most ${MAX_TIMEOUT_SECONDS * 4} seconds (28 days)` })
    .optional(),
  /** Dollars the task's model calls may cost, its sub-tasks' included; the model gateway refuses calls past it. */
  budget_usd: budgetUsdSchema.optional(),
});

/** A task exactly as protocol.md describes it; every field may be missing on the wire. */
export const wireTaskSchema = z.looseObject({
  task_id: taskIdSchema.optional(),
  type: z.string().optional(),
  source: z.string().optional(),
  destination: z.string().optional(),
  timestamp: z.string().optional(),
  payload: taskPayloadSchema.optional(),
  metadata: taskMetadataSchema.optional(),
});

export type WireTask = z.infer<typeof wireTaskSchema>;

/** A task after parsing: defaults applied, ready to run. */
export interface Task {
  taskId: string;
  type: string;
  source: string;
  destination: string;
  timestamp: string;
  description: string;
  requirements: string[];
  context: Record<string, unknown>;
  priority: Priority;
  timeoutSeconds: number;
  parentId: string | undefined;
  /** From `metadata.deadline`: ms since the epoch by which the task must have ended. */
  deadlineMs: number | undefined;
  /** The payload as sent, for `echo` tasks and for workers that want more than the description. */
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

export type ParseOutcome =
  | { kind: 'ok'; task: Task }
  /** Not JSON, or JSON that is not an object: goes to the dead-letter list. */
  | { kind: 'malformed'; reason: string; taskId: string | undefined }
  /** An object with a field that cannot be used: the task fails with this reason. */
  | { kind: 'invalid'; reason: string; taskId: string };

const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** Why a task breaks `limits`, naming the limit and its setting; undefined when it fits. */
function sizeProblem(raw: string, wire: WireTask, limits: TaskLimits): string | undefined {
  const over = (what: string, size: number, max: number, setting: string): string | undefined =>
    max > 0 && size > max ? `${what} is ${size} bytes, over the ${max}-byte limit (${setting}); send less, or raise ${setting}` : undefined;
  const description = wire.payload?.description;
  const context = wire.payload?.context;
  return over('the task', bytes(raw), limits.maxTaskBytes, 'DAN_MAX_TASK_BYTES')
    ?? (description === undefined ? undefined : over('payload.description', bytes(description), limits.maxDescriptionBytes, 'DAN_MAX_DESCRIPTION_BYTES'))
    ?? (context === undefined ? undefined : over('payload.context', bytes(JSON.stringify(context)), limits.maxContextBytes, 'DAN_MAX_CONTEXT_BYTES'));
}

/**
 * Parses the raw text a client pushed. `fallbackId` is the id the queue assigned when the JSON had
 * none (the result is still recorded under it). A task over `limits` is invalid, with the limit named.
 */
export function parseTask(raw: string, fallbackId?: string, limits: TaskLimits = DEFAULT_TASK_LIMITS): ParseOutcome {
  if (limits.maxTaskBytes > 0 && raw.length > limits.maxTaskBytes) {
    // Refused before JSON.parse, so an oversized text costs no more than its length check.
    const reason = `invalid task: ${sizeProblem(raw, {}, limits) ?? 'too large'}`;
    const taskId = recoverTaskId(raw.slice(0, 4096)) ?? fallbackId;
    return taskId === undefined ? { kind: 'malformed', reason, taskId } : { kind: 'invalid', reason, taskId };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return { kind: 'malformed', reason: `not JSON: ${(error as Error).message}`, taskId: recoverTaskId(raw) };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const what = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    return { kind: 'malformed', reason: `task JSON must be an object, got ${what}`, taskId: undefined };
  }
  const idValue = (value as Record<string, unknown>)['task_id'];
  if (idValue !== undefined && idValue !== null && typeof idValue !== 'string') {
    // A number would be answered under another id, and the client would wait for its own forever.
    return { kind: 'malformed', reason: `task_id must be a string, got ${typeof idValue}: ${TASK_ID_RULE_TEXT}`, taskId: undefined };
  }
  // A bad id names no result the queue may write: the input is refused as a whole.
  const idProblem = typeof idValue === 'string' && idValue.length > 0 ? taskIdProblem(idValue) : undefined;
  if (idProblem !== undefined) return { kind: 'malformed', reason: idProblem, taskId: undefined };
  const taskId = typeof idValue === 'string' && idValue.length > 0 ? idValue : fallbackId;
  const parsed = wireTaskSchema.safeParse(value);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) => `${i.path.join('.') || '(task)'} ${i.message}`).join('; ');
    if (taskId === undefined) return { kind: 'malformed', reason: `invalid task: ${reason}`, taskId: undefined };
    return { kind: 'invalid', reason: `invalid task: ${reason}`, taskId };
  }
  const wire = parsed.data;
  if (taskId === undefined) return { kind: 'malformed', reason: 'task has no task_id and none was assigned', taskId: undefined };
  const tooLarge = sizeProblem(raw, wire, limits);
  if (tooLarge !== undefined) return { kind: 'invalid', reason: `invalid task: ${tooLarge}`, taskId };
  const type = wire.type ?? 'task_assignment';
  const description = wire.payload?.description?.trim() ?? '';
  if (type !== 'echo' && description.length === 0) {
    return { kind: 'invalid', reason: 'invalid task: payload.description is required (a non-empty string)', taskId };
  }
  return {
    kind: 'ok',
    task: {
      taskId,
      type,
      source: wire.source ?? 'unknown',
      destination: wire.destination ?? '',
      timestamp: wire.timestamp ?? '',
      description,
      requirements: wire.payload?.requirements ?? [],
      context: wire.payload?.context ?? {},
      priority: wire.metadata?.priority ?? 'normal',
      timeoutSeconds: wire.metadata?.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS,
      parentId: wire.metadata?.parent_id,
      deadlineMs: wire.metadata?.deadline === undefined ? undefined : Date.parse(wire.metadata.deadline),
      payload: (wire.payload ?? {}) as Record<string, unknown>,
      metadata: (wire.metadata ?? {}) as Record<string, unknown>,
    },
  };
}

/** Finds a task id in text that is not valid JSON, so its result can still be marked failed. */
export function recoverTaskId(raw: string): string | undefined {
  const match = /"task_id"\s*:\s*"([^"\\]{1,200})"/.exec(raw);
  const id = match?.[1];
  return isValidTaskId(id) ? id : undefined;
}

/** What a new task says; its id and the time it is sent are given to `buildTaskJson` apart. */
export interface NewTaskInput {
  domain: string;
  description: string;
  type?: string;
  source?: string;
  requirements?: string[];
  context?: Record<string, unknown>;
  priority?: Priority;
  timeoutSeconds?: number;
  parentId?: string;
  extraPayload?: Record<string, unknown>;
  extraMetadata?: Record<string, unknown>;
}

/**
 * Builds the wire JSON of a new task; the one place our own producers make task text. The payload and
 * metadata are filled by assignment into objects without a prototype rather than by object spread: the
 * same JSON (an own `__proto__` key in a caller's payload stays a key, as a spread keeps it), in a fifth
 * of the time, which was a tenth of `dan serve`'s time per POST /jobs.
 */
export function buildTaskJson(input: NewTaskInput, taskId: string, timestamp: string): string {
  const metadata: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, input.extraMetadata);
  metadata['priority'] = input.priority ?? 'normal';
  metadata['timeout_seconds'] = input.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (input.parentId !== undefined) metadata['parent_id'] = input.parentId;
  const payload: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, input.extraPayload);
  payload['description'] = input.description;
  payload['requirements'] = input.requirements ?? [];
  payload['context'] = input.context ?? {};
  return JSON.stringify({
    task_id: taskId,
    type: input.type ?? 'task_assignment',
    source: input.source ?? 'cli',
    destination: input.domain,
    timestamp,
    payload,
    metadata,
  });
}
