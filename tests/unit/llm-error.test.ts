import { describe, expect, it } from 'vitest';
import { DanError, toFailure } from '../../lib/errors.js';
import { isRetryableStatus, LlmError } from '../../lib/llm/llm-error.js';

describe('LlmError', () => {
  it.each([
    [400, false], [401, false], [403, false], [404, false], [408, true], [409, true], [413, false],
    [422, false], [429, true], [500, true], [502, true], [503, true], [529, true],
  ])('treats HTTP %i as retryable: %s', (status, retryable) => {
    expect(isRetryableStatus(status)).toBe(retryable);
    expect(LlmError.fromStatus(status, 'detail').retryable).toBe(retryable);
  });

  it.each([
    [400, 'llm_bad_request', 'check the model id'],
    [401, 'llm_auth', 'check ANTHROPIC_API_KEY'],
    [403, 'llm_permission', "check the key's workspace"],
    [404, 'llm_not_found', 'DAN_MODEL_SONNET'],
    [413, 'llm_request_too_large', 'shorten the task'],
    [429, 'llm_rate_limited', 'lower DAN_DOMAIN_CONCURRENCY'],
    [529, 'llm_overloaded', 'retried later'],
    [500, 'llm_server_error', 'retried'],
  ])('gives %i the code %s and advice (%s)', (status, code, advice) => {
    const error = LlmError.fromStatus(status, 'server said no', { errorType: 'some_error', baseUrl: 'http://127.0.0.1:9' });

    expect(error).toBeInstanceOf(DanError);
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    expect(error.errorType).toBe('some_error');
    expect(error.message).toContain(`${status} some_error: server said no`);
    expect(error.message).toContain(advice);
  });

  it('names the base URL when the server cannot be reached, and is retryable without a status', () => {
    const error = LlmError.unreachable('http://127.0.0.1:8790', 'connection refused');

    expect(error).toMatchObject({ code: 'llm_unreachable', retryable: true, status: undefined });
    expect(error.message).toBe(
      "cannot reach the model API at http://127.0.0.1:8790 (connection refused): check ANTHROPIC_BASE_URL, or start the local model with 'dan mock-llm' and set DAN_LLM_URL",
    );
  });

  it('treats timeouts as retryable and aborts as final', () => {
    expect(LlmError.timeout('https://api.anthropic.com', 5000)).toMatchObject({ code: 'llm_timeout', retryable: true });
    expect(LlmError.aborted()).toMatchObject({ code: 'llm_aborted', retryable: false });
  });

  it('crosses Redis as plain data with its code and retryability', () => {
    expect(toFailure(LlmError.fromStatus(429, 'slow down'))).toMatchObject({ code: 'llm_rate_limited', retryable: true });
  });
});
