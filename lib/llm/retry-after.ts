import type { IncomingHttpHeaders } from 'node:http';

/** 5 minutes: a longer retry-after is capped, so a broken answer cannot pause a model for a day. */
export const MAX_PAUSE_MS = 5 * 60_000;

/**
 * How long an answer asks callers to wait, in ms: `retry-after-ms` (the Anthropic API's own), else
 * `retry-after` in seconds or as an HTTP date; capped at MAX_PAUSE_MS. Undefined when it asks nothing.
 */
export function retryAfterMs(headers: IncomingHttpHeaders | Record<string, string | undefined>, now = Date.now()): number | undefined {
  const pick = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : (value ?? undefined);
  };
  const ms = Number(pick('retry-after-ms'));
  if (pick('retry-after-ms') !== undefined && Number.isFinite(ms) && ms >= 0) return Math.min(ms, MAX_PAUSE_MS);
  const text = pick('retry-after')?.trim();
  if (text === undefined || text === '') return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.min(seconds * 1000, MAX_PAUSE_MS) : undefined;
  const date = Date.parse(text);
  return Number.isFinite(date) ? Math.min(Math.max(0, date - now), MAX_PAUSE_MS) : undefined;
}

/**
 * Whether an upstream answer of `status` that names a `retry-after` pauses the model for every agent:
 * 429 (the account's rate limit) and 529 (Anthropic's "overloaded"). Both are retried by the SDKs
 * after the wait the answer names; alone, 30 agents would each come back on their own schedule into
 * a model that asked them all to wait. A 529 without `retry-after` pauses nothing: each caller backs
 * off exponentially with jitter, as the SDKs do.
 */
export function pausesModel(status: number | undefined): boolean {
  return status === 429 || status === 529;
}

/** The headers of a 429 that asks for `ms`: both forms, as the real API sends them. */
export function retryAfterHeaders(ms: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(Math.max(1, Math.ceil(ms))) };
}
