import { DanError } from '../errors.js';
import { LlmErrorCode } from './llm-error-code.js';

export { LlmErrorCode } from './llm-error-code.js';

/**
 * Whether a retry can help, from the HTTP status alone: 408 (request timeout), 409 (lock conflict),
 * 429 (rate limit) and every 5xx (529 is Anthropic's "overloaded") are temporary; other statuses
 * mean the request itself must change.
 */
export function isRetryableStatus(status: number | undefined): boolean {
  if (status === undefined) return false;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** What is known about a failure besides its code and message. */
export interface LlmErrorOptions {
  /** HTTP status of the answer, or undefined when no answer came (connection, timeout, abort). */
  status?: number;
  /** Anthropic's `error.type` (`rate_limit_error`, `overloaded_error`, ...), when the server sent one. */
  errorType?: string;
  /** Overrides the status rule; connection failures set it to true. */
  retryable?: boolean;
  cause?: unknown;
}

/**
 * A model call that failed, whichever client made it. Callers (the tool-use loop, the task
 * runner) decide on `retryable` and report `code`; the message says what to do next.
 * Build one with the static helpers so the wording stays the same across clients. A retryable
 * message says "retried while the task has attempts left", not "the call is retried": the same text
 * ends the final error after the last attempt (`gave up after 3 attempts; the last ended: ...`).
 */
export class LlmError extends DanError {
  readonly status: number | undefined;
  readonly errorType: string | undefined;

  constructor(code: LlmErrorCode, message: string, options: LlmErrorOptions = {}) {
    super(code, message, { retryable: options.retryable ?? isRetryableStatus(options.status), cause: options.cause });
    this.name = 'LlmError';
    this.status = options.status;
    this.errorType = options.errorType;
  }

  /**
   * From an HTTP error answer of a Messages API server. `detail` is the server's own message;
   * `baseUrl` names the server in the advice where that helps.
   */
  static fromStatus(status: number, detail: string, options: { errorType?: string; baseUrl?: string; cause?: unknown } = {}): LlmError {
    const what = `${status}${options.errorType ? ` ${options.errorType}` : ''}${detail ? `: ${detail}` : ''}`;
    const where = options.baseUrl ? ` at ${options.baseUrl}` : '';
    const [code, message] = describeStatus(status, what, where);
    return new LlmError(code, message, { status, errorType: options.errorType, cause: options.cause });
  }

  /** No answer at all: nothing listens at `baseUrl`, DNS failed, or the connection dropped. */
  static unreachable(baseUrl: string, reason: string, cause?: unknown): LlmError {
    return new LlmError(
      LlmErrorCode.unreachable,
      `cannot reach the model API at ${baseUrl} (${reason}): check ANTHROPIC_BASE_URL, or start the local model with 'dan mock-llm' and set DAN_LLM_URL`,
      { retryable: true, cause },
    );
  }

  /** The client gave up waiting; the server may still be working, so a retry can help. */
  static timeout(baseUrl: string, timeoutMs: number, cause?: unknown): LlmError {
    return new LlmError(
      LlmErrorCode.timeout,
      `the model API at ${baseUrl} did not answer within ${timeoutMs} ms: retried while the task has attempts left; raise the timeout if long answers are expected`,
      { retryable: true, cause },
    );
  }

  /** The caller's AbortSignal fired (task cancelled, agent shutting down): never retried. */
  static aborted(cause?: unknown): LlmError {
    return new LlmError(LlmErrorCode.aborted, 'the model call was aborted by the caller', { retryable: false, cause });
  }
}

function describeStatus(status: number, what: string, where: string): [LlmErrorCode, string] {
  switch (status) {
    case 400:
      return [LlmErrorCode.badRequest, `the model API rejected the request (${what}): check the model id and the request`];
    case 401:
      return [
        LlmErrorCode.auth,
        `the model API${where} rejected the API key (${what}): check ANTHROPIC_API_KEY, or run offline with DAN_LLM=local and 'dan mock-llm'`,
      ];
    case 402:
      return [LlmErrorCode.budgetExceeded, `the model call was not made: its budget is spent (${what})`];
    case 403:
      return [LlmErrorCode.permission, `the API key may not do this (${what}): check the key's workspace and model access`];
    case 404:
      return [
        LlmErrorCode.notFound,
        `the model API${where} answered not found (${what}): check the model id (DAN_MODEL_SONNET, DAN_MODEL_OPUS, DAN_MODEL_HAIKU) and ANTHROPIC_BASE_URL`,
      ];
    case 408:
      return [LlmErrorCode.timeout, `the model API timed out the request (${what}): retried while the task has attempts left`];
    case 413:
      return [LlmErrorCode.tooLarge, `the request is too large for the model API (${what}): shorten the task or its context`];
    case 429:
      return [
        LlmErrorCode.rateLimited,
        `the model API is rate limiting this key (${what}): retried while the task has attempts left; lower DAN_DOMAIN_CONCURRENCY or DAN_MAIN_CONCURRENCY if it keeps happening`,
      ];
    case 503:
    case 529:
      return [LlmErrorCode.overloaded, `the model API${where} is overloaded (${what}): retried later while the task has attempts left`];
    default:
      if (status >= 500) return [LlmErrorCode.server, `the model API${where} failed (${what}): retried while the task has attempts left`];
      if (status === 409) return [LlmErrorCode.other, `the model API reported a conflict (${what}): retried while the task has attempts left`];
      return [LlmErrorCode.other, `the model API${where} answered ${what}`];
  }
}
