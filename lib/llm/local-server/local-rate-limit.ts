import { retryAfterHeaders } from '../retry-after.js';

/** The limits the local model server enforces, as the real API does per account (0 or unset: none). */
export interface LocalRateLimitOptions {
  /** Requests per window. */
  rpm?: number;
  /** Input tokens per window (the whole prompt, as estimated by lib/llm/token-count.ts). */
  inputTpm?: number;
  /** Output tokens per window (those the answers carried). */
  outputTpm?: number;
  /** Default 60 000: per minute. */
  windowMs?: number;
}

/** A request over the limit: the 429's message and headers. */
export interface LocalRefusal {
  message: string;
  headers: Record<string, string>;
}

/**
 * A sliding window of the requests the local model server answered, so it can refuse, as the API
 * does, a request over its requests or tokens per window with 429 `rate_limit_error`, `retry-after`
 * and the `anthropic-ratelimit-*` headers: tests and the bench show the network's pause with it.
 */
export class LocalRateLimit {
  private readonly windowMs: number;
  private readonly taken: { at: number; input: number; output: number }[] = [];

  constructor(private readonly options: LocalRateLimitOptions, private readonly now: () => number = Date.now) {
    this.windowMs = options.windowMs ?? 60_000;
  }

  /** Takes a place for a request of `input` tokens, or says why not; `output` is added once known. */
  take(input: number): { refused: LocalRefusal } | { settle(output: number): void } {
    const now = this.now();
    while (this.taken.length > 0 && (this.taken[0]?.at ?? 0) <= now - this.windowMs) this.taken.shift();
    const { rpm = 0, inputTpm = 0, outputTpm = 0 } = this.options;
    const sumIn = this.taken.reduce((s, t) => s + t.input, 0);
    const sumOut = this.taken.reduce((s, t) => s + t.output, 0);
    const over = rpm > 0 && this.taken.length + 1 > rpm ? 'requests'
      : inputTpm > 0 && this.taken.length > 0 && sumIn + input > inputTpm ? 'input tokens'
        : outputTpm > 0 && sumOut >= outputTpm ? 'output tokens' : undefined;
    const oldest = this.taken[0]?.at ?? now;
    const resetMs = Math.max(1, oldest + this.windowMs - now);
    const limitHeaders = {
      ...(rpm > 0 ? { 'anthropic-ratelimit-requests-limit': String(rpm), 'anthropic-ratelimit-requests-remaining': String(Math.max(0, rpm - this.taken.length - (over ? 0 : 1))) } : {}),
      'anthropic-ratelimit-requests-reset': new Date(now + resetMs).toISOString(),
    };
    if (over) {
      return {
        refused: {
          message: `This request would exceed the rate limit of ${over} per ${this.windowMs / 1000} s of the local model server. Retry after the retry-after header.`,
          headers: { ...limitHeaders, ...retryAfterHeaders(resetMs) },
        },
      };
    }
    const entry = { at: now, input, output: 0 };
    this.taken.push(entry);
    return { settle: (output: number) => { entry.output = output; } };
  }
}
