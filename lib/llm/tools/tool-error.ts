import { DanError } from '../../errors.js';

/**
 * A problem the model caused and can fix: bad input, a missing file, a command that failed. The tool
 * loop sends its message back as an `is_error` tool result instead of ending the task, so the text
 * must say what went wrong and what to try instead.
 */
export class ToolError extends DanError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('tool_error', message, { retryable: false, cause: options.cause });
    this.name = 'ToolError';
  }
}

/**
 * The task was cancelled (its AbortSignal fired) while the model or a tool was working. Named
 * `AbortError` like the platform's own, so code that checks `error.name` treats it the same.
 */
export class AbortedError extends DanError {
  constructor(what: string, reason?: unknown) {
    super('aborted', `${what} was aborted${reasonText(reason)}`, { retryable: false, cause: reason });
    this.name = 'AbortError';
  }
}

/** Throws an `AbortedError` when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortedError(what, signal.reason);
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error && reason.name !== 'AbortError') return `: ${reason.message}`;
  if (typeof reason === 'string' && reason !== '') return `: ${reason}`;
  return '';
}
