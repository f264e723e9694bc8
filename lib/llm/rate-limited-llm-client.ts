import type { ModelRateLimit } from '../redis/model-rate-limit.js';
import type { LlmClient } from './llm-client.js';
import { LlmError, LlmErrorCode } from './llm-error.js';
import { pausesModel, retryAfterMs } from './retry-after.js';
import { countRequestTokens } from './token-count.js';
import type { LlmCallOptions, LlmRequest, LlmResponse } from './types.js';

/**
 * `client` under the network's shared rate limit, for the calls that do not pass the model gateway
 * (the main orchestrator's own router): each call waits for its model's place (and for the end of a
 * pause a 429 put on it) as the agents' calls do in the gateway, settles its real tokens after, and a
 * 429 or 529 with `retry-after` it gets pauses the model for every agent. Past `maxWaitMs` it fails as a 429
 * would: retryable, so the task is retried later, not failed.
 */
export function rateLimitedLlmClient(client: LlmClient, limiter: ModelRateLimit, maxWaitMs: number): LlmClient {
  return {
    name: client.name,
    async createMessage(request: LlmRequest, options?: LlmCallOptions): Promise<LlmResponse> {
      const outcome = await limiter.admit(request.model, { input: countRequestTokens(request), output: request.max_tokens }, maxWaitMs, options?.signal);
      if (!('model' in outcome)) {
        throw new LlmError(LlmErrorCode.rateLimited,
          `the network's shared rate limit of ${request.model} had no place within ${maxWaitMs} ms (${outcome.reason}; DAN_MODEL_RATE_MAX_WAIT_MS): retried while the task has attempts left`,
          { status: 429, errorType: 'rate_limit_error' });
      }
      const began = performance.now();
      try {
        const answer = await client.createMessage(request, options);
        const u = answer.usage;
        // Counted from when the answer was whole: the latest the API can have counted the call.
        void limiter.settle(outcome, { input: u.input_tokens + (u.cache_creation_input_tokens ?? 0), output: u.output_tokens }, performance.now() - began).catch(() => undefined);
        return answer;
      } catch (error) {
        const wait = error instanceof LlmError && pausesModel(error.status) ? retryAfterOf(error.cause) : undefined;
        if (wait !== undefined) await limiter.pause(request.model, wait).catch(() => undefined);
        throw error;
      }
    },
  };
}

/** The retry-after of an SDK error's answer (its `headers`: a Headers object or a plain record). */
function retryAfterOf(cause: unknown): number | undefined {
  if (cause === null || typeof cause !== 'object' || !('headers' in cause)) return undefined;
  const headers = (cause as { headers: unknown }).headers;
  if (headers === null || typeof headers !== 'object') return undefined;
  const get = (name: string): string | undefined => {
    if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
    const value = (headers as Record<string, unknown>)[name];
    return typeof value === 'string' ? value : undefined;
  };
  return retryAfterMs({ 'retry-after-ms': get('retry-after-ms'), 'retry-after': get('retry-after') });
}
