import type { LlmCallOptions, LlmRequest, LlmResponse } from './types.js';

/**
 * A language model the network can call. Implementations: `AnthropicLlmClient` (the real API or any
 * server that speaks the Messages API, such as our local scripted server) and `ScriptedLlmClient`
 * (in-process scripted replies for unit tests). Errors thrown are `LlmError`s.
 */
export interface LlmClient {
  readonly name: string;
  createMessage(request: LlmRequest, options?: LlmCallOptions): Promise<LlmResponse>;
}

/**
 * `client` with every call named as made for `taskId` by `worker`: the model gateway prices such
 * calls to that task (when the calling agent holds it) and holds them to its budget.
 */
export function attributedLlmClient(client: LlmClient, attribution: { taskId: string; worker: string }): LlmClient {
  return {
    name: client.name,
    createMessage: (request, options) => client.createMessage(request, { ...options, attribution }),
  };
}
