import type { LlmRequest } from '../types.js';
import { buildMessage, IdSource, type WireMessage } from './build-response.js';
import { PromptCache } from './prompt-cache.js';
import { RuleEngine } from './rule-engine.js';
import type { ReplyError, ReplySpec, Rule } from './rules.js';

/** What the scripted model answered: a message, or an HTTP error a rule asked for. */
export type ScriptedAnswer =
  | { rule: string | undefined; message: WireMessage; error?: undefined; delayMs?: number }
  | { rule: string | undefined; error: ReplyError; message?: undefined; delayMs?: number };

/**
 * Rules engine, prompt cache and ids together: the part of a model that the local server and
 * `ScriptedLlmClient` share, so that both give the same answers and the same usage numbers.
 */
export class ScriptedModel {
  private readonly engine: RuleEngine;
  private readonly cache = new PromptCache();
  private readonly ids: IdSource;

  constructor(rules: readonly Rule[], idTag = 'local') {
    this.engine = new RuleEngine(rules);
    this.ids = new IdSource(idTag);
  }

  setRules(rules: readonly Rule[]): void {
    this.engine.setRules(rules);
  }

  /** Lets the rules choose the reply. */
  answer(request: LlmRequest): ScriptedAnswer {
    const outcome = this.engine.decide(request);
    return this.respond(outcome.reply, request, outcome.rule);
  }

  /** Turns a given reply into a message with usage, as if a rule had chosen it. */
  respond(reply: ReplySpec, request: LlmRequest, rule?: string): ScriptedAnswer {
    const delay = reply.delay_ms ? { delayMs: reply.delay_ms } : {};
    if (reply.error) return { rule, error: reply.error, ...delay };
    return { rule, message: buildMessage(reply, request, this.cache.usage(request), this.ids), ...delay };
  }
}
