/**
 * One error base for the whole network. `code` is stable (scripts and tests branch on it),
 * `retryable` says whether trying again can help, and the message tells a person what to do next.
 * Failures that cross Redis are plain data: see `toFailure`.
 */
export class DanError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  /** Process exit code the CLI uses when this error ends a command. */
  readonly exitCode: number;

  constructor(code: string, message: string, options: { retryable?: boolean; exitCode?: number; cause?: unknown } = {}) {
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
  code: string;
  message: string;
  retryable: boolean;
}

export function toFailure(error: unknown): TaskFailure {
  if (error instanceof DanError) return { code: error.code, message: oneLine(error.message), retryable: error.retryable };
  if (error instanceof Error) {
    if (error.name === 'AbortError') return { code: 'aborted', message: oneLine(error.message), retryable: false };
    return { code: 'internal', message: oneLine(error.message), retryable: false };
  }
  return { code: 'internal', message: oneLine(String(error)), retryable: false };
}

/** Protocol: an `error` field and each log entry are one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** Hides the password of a redis:// or rediss:// URL for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]*):([^@]*)@/, (_m, user: string) => `//${user}:***@`);
}
