import type { FailureCode } from './protocol/failure.js';
import { asFailureCode, FailureCode as Codes } from './protocol/failure.js';

/**
 * Codes of errors that stop a command, a start-up or one tool call, never a task: they reach a person
 * through the CLI's message and exit code (or the model, for a tool), not a result hash. They are a
 * separate kind from `FailureCode` so the list of ways a task can fail stays the one list clients read;
 * if one of these ever ends a task, `toFailure` records it as `internal`.
 */
export const OperatorErrorCode = {
  invalidInput: 'invalid_input',
  notFound: 'not_found',
  ambiguous: 'ambiguous',
  notRetryable: 'not_retryable',
  redisUnreachable: 'redis_unreachable',
  redisAuth: 'redis_auth',
  redisTls: 'redis_tls',
  redisNoMaster: 'redis_no_master',
  redisNotReplicated: 'redis_not_replicated',
  redisMissing: 'redis_missing',
  redisStartFailed: 'redis_start_failed',
  dockerUnreachable: 'docker_unreachable',
  swarmUnavailable: 'swarm_unavailable',
  imageMissing: 'image_missing',
  spawnFailed: 'spawn_failed',
  spawnerClosed: 'spawner_closed',
  agentExists: 'agent_exists',
  portInUse: 'port_in_use',
  missingApiKey: 'missing_api_key',
  agentsDirMissing: 'agents_dir_missing',
  envFileUnreadable: 'env_file_unreadable',
  stopIncomplete: 'stop_incomplete',
  invalidAgentDefinition: 'invalid_agent_definition',
  badRole: 'bad_role',
  mainRunning: 'main_running',
  mainReplaced: 'main_replaced',
  composeMissing: 'compose_missing',
  composeFileMissing: 'compose_file_missing',
  composeFailed: 'compose_failed',
  uiPortBusy: 'ui_port_busy',
  uiStartFailed: 'ui_start_failed',
  uiStopped: 'ui_stopped',
  noTmux: 'no_tmux',
  tmuxFailed: 'tmux_failed',
  demoFailed: 'demo_failed',
  elfNotRunning: 'elf_not_running',
  elfTimeout: 'elf_timeout',
  elfClosed: 'elf_closed',
  elfDbUnavailable: 'elf_db_unavailable',
  elfDbNewer: 'elf_db_newer',
  elfDbCorrupt: 'elf_db_corrupt',
  gitFailed: 'git_failed',
  toolError: 'tool_error',
  unknownTool: 'unknown_tool',
  pathOutsideWorkspace: 'path_outside_workspace',
  sandboxUnavailable: 'sandbox_unavailable',
  forwardFailed: 'forward_failed',
  // The HTTP API's answers (src/api): each maps to one status code there.
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  bodyTooLarge: 'body_too_large',
  unsupportedMediaType: 'unsupported_media_type',
  alreadyEnded: 'already_ended',
  /** Approve or reject of a task that is not awaiting approval (src/operations/approvals.ts). */
  notAwaitingApproval: 'not_awaiting_approval',
  notFailed: 'not_failed',
  alreadyRetried: 'already_retried',
  notReady: 'not_ready',
  nonLoopbackWithoutKeys: 'non_loopback_without_keys',
  rateLimited: 'rate_limited',
} as const;

/** One of the `OperatorErrorCode` values. */
export type OperatorErrorCode = (typeof OperatorErrorCode)[keyof typeof OperatorErrorCode];

/** What a `DanError` may carry: a way a task fails, or a way a command or start-up fails. */
export type DanErrorCode = FailureCode | OperatorErrorCode;

const operatorCodes = new Set<string>(Object.values(OperatorErrorCode));

/** A code read from the wire (an ELF reply): kept when listed, else `internal`. */
export function asDanErrorCode(code: string): DanErrorCode {
  return operatorCodes.has(code) ? (code as OperatorErrorCode) : asFailureCode(code);
}

/**
 * One error base for the whole network. `code` is stable (scripts and tests branch on it),
 * `retryable` says whether trying again can help, and the message tells a person what to do next.
 * Failures that cross Redis are plain data: see `toFailure`.
 */
export class DanError extends Error {
  readonly code: DanErrorCode;
  readonly retryable: boolean;
  /** Process exit code the CLI uses when this error ends a command. */
  readonly exitCode: number;

  constructor(code: DanErrorCode, message: string, options: { retryable?: boolean; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DanError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Exit codes of the `dan` CLI, as documented in the README. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  redisUnreachable: 3,
  queueFull: 4,
} as const;

/** Bad input from a user or a client: never retried, always names the field. */
export class InvalidInputError extends DanError {
  constructor(message: string) {
    super('invalid_input', message, { retryable: false, exitCode: ExitCode.usage });
    this.name = 'InvalidInputError';
  }
}

/** Redis did not answer; the message names the URL and how to start Redis. */
export class RedisUnreachableError extends DanError {
  constructor(url: string, cause?: unknown) {
    super(
      'redis_unreachable',
      `REDIS_URL is not reachable (${redactUrl(url)}): start Redis with 'docker compose up -d message-broker' or 'redis-server', or set REDIS_URL`,
      { retryable: true, exitCode: ExitCode.redisUnreachable, cause },
    );
    this.name = 'RedisUnreachableError';
  }
}

/** Backpressure: a domain's queue holds as many tasks as it may; the message says what to do. */
export class QueueFullError extends DanError {
  constructor(domain: string, depth: number, max: number) {
    super(
      'queue_full',
      `the ${domain} queue is full: ${depth} tasks wait (DAN_MAX_QUEUE_DEPTH=${max}); send it again once it drains, add capacity with DAN_MAX_INSTANCES_PER_DOMAIN or DAN_DOMAIN_CONCURRENCY, or raise DAN_MAX_QUEUE_DEPTH`,
      { retryable: true, exitCode: ExitCode.queueFull },
    );
    this.name = 'QueueFullError';
  }
}

/** A failure as it travels across Redis: plain data with a type and whether a retry may help. */
export interface TaskFailure {
  code: FailureCode;
  message: string;
  retryable: boolean;
}

/**
 * The failure a task ends with, from whatever its handler threw. A `DanError` keeps its code when it is
 * a listed failure code; an operator code (see `OperatorErrorCode`) or a bare `Error` is `internal`,
 * since nothing more is known than its message.
 */
export function toFailure(error: unknown): TaskFailure {
  if (error instanceof DanError) return { code: asFailureCode(error.code), message: oneLine(error.message), retryable: error.retryable };
  if (error instanceof Error) {
    if (error.name === 'AbortError') return { code: Codes.aborted, message: oneLine(error.message), retryable: false };
    return { code: Codes.internal, message: oneLine(error.message), retryable: false };
  }
  return { code: Codes.internal, message: oneLine(String(error)), retryable: false };
}

/** Protocol: an `error` field and each log entry are one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** Hides the passwords of a redis://, rediss:// or redis+sentinel:// URL (its `sentinel_password` too) for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]*):([^@]*)@/, (_m, user: string) => `//${user}:***@`).replace(/([?&]sentinel_password=)[^&\s]*/g, '$1***');
}
