import type { ModelCallRecord } from '../redis/task-metrics.js';
import type { LlmClient } from './llm-client.js';
import { LlmError } from './llm-error.js';
import type { LlmCallOptions, LlmRequest, LlmResponse } from './types.js';

/**
 * `client` with each call reported to `record` once it ended: the model and tokens the answer named,
 * `200`, or the HTTP status of a refusal (`error` when none came back), and how long it took. For calls
 * that do not pass the model gateway (the main orchestrator's own router), so `/metrics` counts them as
 * it counts the gateway's. A report that fails is the report's problem, never the call's.
 */
export function meteredLlmClient(client: LlmClient, record: (call: ModelCallRecord) => Promise<void>): LlmClient {
  const report = (call: ModelCallRecord) => void record(call).catch(() => undefined);
  return {
    name: client.name,
    async createMessage(request: LlmRequest, options?: LlmCallOptions): Promise<LlmResponse> {
      const began = performance.now();
      try {
        const answer = await client.createMessage(request, options);
        const u = answer.usage;
        report({
          model: answer.model || request.model, status: '200', durationMs: performance.now() - began,
          tokens: { input: u.input_tokens, output: u.output_tokens, cache_creation_input: u.cache_creation_input_tokens ?? 0, cache_read_input: u.cache_read_input_tokens ?? 0 },
        });
        return answer;
      } catch (error) {
        const status = error instanceof LlmError && error.status !== undefined ? String(error.status) : 'error';
        report({ model: request.model, status, durationMs: performance.now() - began, tokens: {} });
        throw error;
      }
    },
  };
}
