import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DanError, oneLine } from '../../lib/errors.js';
import type { DanErrorCode } from '../../lib/errors.js';

/** The one shape of every error the API answers: a stable code to branch on, a message that says what to do. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().describe('Stable: invalid_input, unauthorized, forbidden, not_found, already_ended, not_awaiting_approval, not_failed, already_retried, not_retryable, ambiguous, body_too_large, unsupported_media_type, unknown_domain, queue_full, redis_unreachable, redis_not_replicated, not_ready, elf_not_running, rate_limited, internal'),
    message: z.string().describe('What happened and what to do about it'),
  }),
}).meta({ id: 'Error' });

export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The status each code is answered with; a code not listed is a fault of ours (500). */
const STATUS_OF: Partial<Record<DanErrorCode, number>> = {
  invalid_input: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  already_ended: 409,
  not_awaiting_approval: 409,
  not_failed: 409,
  already_retried: 409,
  not_retryable: 409,
  ambiguous: 409,
  body_too_large: 413,
  unsupported_media_type: 415,
  unknown_domain: 422,
  rate_limited: 429,
  queue_full: 503,
  redis_unreachable: 503,
  // Queued on the master, but fewer replicas than DAN_REDIS_WAIT_REPLICAS confirmed it in time.
  redis_not_replicated: 503,
  not_ready: 503,
  // The ELF memory did not answer in time, or cannot open its database: the message says how to bring it back.
  elf_not_running: 503,
  elf_db_unavailable: 503,
};

/** An error an API handler throws to answer with its code's status and the error shape. */
export class ApiError extends DanError {
  /** Sent as `Retry-After` (whole seconds), for answers that say when to try again. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: DanErrorCode, message: string, options: { retryAfterSeconds?: number } = {}) {
    super(code, message);
    this.name = 'ApiError';
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message: oneLine(message) } };
}

/**
 * What the API answers for anything a handler or Fastify threw: a `DanError` by its code, a schema
 * mismatch as `invalid_input` naming the field, Fastify's own 4xx (unparsable JSON, a body over the cap,
 * a content type it does not read) by their status; anything else is ours, a 500 `internal`.
 */
export function toErrorReply(error: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (error instanceof DanError) {
    const status = STATUS_OF[error.code];
    if (status !== undefined) return { status, body: errorBody(error.code, error.message), internal: false };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error as { validationContext?: string }).validationContext ?? 'request';
    const problems = error.validation.slice(0, 5).map((v) => `${where}${v.instancePath === '/' ? '' : v.instancePath}: ${v.message}`);
    return { status: 400, body: errorBody('invalid_input', `${problems.join('; ')}; see /openapi.json for the request's shape`), internal: false };
  }
  const status = typeof (error as { statusCode?: unknown })?.statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
  const message = error instanceof Error ? error.message : String(error);
  if (status === 413) return { status, body: errorBody('body_too_large', `${message}; send a smaller body (the cap is DAN_API_MAX_BODY_BYTES)`), internal: false };
  if (status === 415) return { status, body: errorBody('unsupported_media_type', `${message}; send JSON with 'Content-Type: application/json'`), internal: false };
  if (status >= 400 && status < 500) return { status, body: errorBody('invalid_input', `${message}; send a JSON body as /openapi.json describes it`), internal: false };
  return { status: 500, body: errorBody('internal', 'the API failed on its side; the server log has the cause, and trying again may help'), internal: true };
}

/** The error responses a route documents, for the OpenAPI document. */
export function errorResponses(...statuses: number[]): Record<number, typeof errorBodySchema> {
  return Object.fromEntries(statuses.map((status) => [status, errorBodySchema]));
}
