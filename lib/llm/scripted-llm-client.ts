import type { LlmClient } from './llm-client.js';
import { LlmError, LlmErrorCode } from './llm-error.js';
import { defaultRules } from './local-server/default-rules.js';
import type { ReplySpec, Rule } from './local-server/rules.js';
import { ScriptedModel } from './local-server/scripted-model.js';
import type { LlmCallOptions, LlmRequest, LlmResponse } from './types.js';

/**
 * One scripted answer: a whole response (used as given), a reply spec like a rule's (ids and usage
 * are filled in; `error` throws the matching `LlmError`), an error to throw, or a function of the
 * request returning any of these.
 */
export type ScriptedResponse =
  | LlmResponse
  | ReplySpec
  | Error
  | ((request: LlmRequest) => LlmResponse | ReplySpec | Error);

/** The script: fixed answers first, then rules. */
export interface ScriptedLlmClientOptions {
  /** Answers in order, one per call. */
  responses?: readonly ScriptedResponse[];
  /**
   * Rules for calls once `responses` are used up (or when none were given). Default: the local
   * server's default rules when no `responses` are given; with `responses` and no `rules`,
   * running out is an error, which keeps a test's script exact.
   */
  rules?: readonly Rule[];
}

/**
 * An in-process model for unit tests, ours and users': answers from a list of scripted responses
 * or from the same rules engine as the local server, with the same ids and usage numbers, and
 * records every request in `calls`. No network, no timing.
 */
export class ScriptedLlmClient implements LlmClient {
  readonly name = 'scripted';
  /** Every request, in order, copied when it was made (later changes by the caller don't show). */
  readonly calls: LlmRequest[] = [];
  private readonly queue: ScriptedResponse[];
  private readonly model: ScriptedModel;
  private readonly hasRules: boolean;

  constructor(options: ScriptedLlmClientOptions = {}) {
    this.queue = [...(options.responses ?? [])];
    const rules = options.rules ?? (options.responses === undefined ? defaultRules() : undefined);
    this.hasRules = rules !== undefined;
    this.model = new ScriptedModel(rules ?? [], 'scripted');
  }

  /** Adds answers to the end of the script. */
  push(...responses: ScriptedResponse[]): void {
    this.queue.push(...responses);
  }

  /** Scripted responses not yet used. */
  get remaining(): number {
    return this.queue.length;
  }

  async createMessage(request: LlmRequest, options: LlmCallOptions = {}): Promise<LlmResponse> {
    this.calls.push(structuredClone(request));
    if (options.signal?.aborted) throw LlmError.aborted(options.signal.reason);
    const next = this.queue.shift();
    if (next === undefined) {
      if (!this.hasRules) {
        throw new LlmError(
          LlmErrorCode.scriptExhausted,
          `ScriptedLlmClient has no scripted response left for call ${this.calls.length}: add responses, or pass rules to answer the rest`,
        );
      }
      return this.settle(this.model.answer(request));
    }
    const answer = typeof next === 'function' ? next(request) : next;
    if (answer instanceof Error) throw answer;
    if (isResponse(answer)) return structuredClone(answer);
    return this.settle(this.model.respond(answer, request));
  }

  private settle(answer: ReturnType<ScriptedModel['answer']>): LlmResponse {
    if (answer.error) throw LlmError.fromStatus(answer.error.status, answer.error.message, { errorType: answer.error.type });
    const { type: _type, stop_sequence: _stop, ...response } = answer.message;
    return response;
  }
}

function isResponse(value: LlmResponse | ReplySpec): value is LlmResponse {
  return Array.isArray((value as LlmResponse).content) && (value as LlmResponse).role === 'assistant';
}
