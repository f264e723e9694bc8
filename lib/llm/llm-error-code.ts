/**
 * Stable codes of model failures; scripts and tests branch on these, never on messages. Kept apart from
 * `LlmError` so the failure list (lib/protocol/failure.ts) takes them without importing the error
 * classes, which import the failure list in turn.
 */
export const LlmErrorCode = {
  badRequest: 'llm_bad_request',
  auth: 'llm_auth',
  permission: 'llm_permission',
  notFound: 'llm_not_found',
  tooLarge: 'llm_request_too_large',
  rateLimited: 'llm_rate_limited',
  overloaded: 'llm_overloaded',
  server: 'llm_server_error',
  timeout: 'llm_timeout',
  unreachable: 'llm_unreachable',
  aborted: 'llm_aborted',
  scriptExhausted: 'llm_script_exhausted',
  /** The model gateway refused the call: a budget it would spend from (the task's, its client's day) is spent. */
  budgetExceeded: 'budget_exceeded',
  other: 'llm_error',
} as const;

/** One of the `LlmErrorCode` values. */
export type LlmErrorCode = (typeof LlmErrorCode)[keyof typeof LlmErrorCode];
