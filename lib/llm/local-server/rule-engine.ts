import type { LlmRequest } from '../types.js';
import { requestFacts, type RequestFacts } from './request-facts.js';
import { compilePattern, type ReplySpec, type Rule } from './rules.js';
import { builtinVars, renderDeep, renderTemplate } from './template.js';

/** The answer the engine chose: the rule's name (undefined for the fallback) and the rendered reply. */
export interface RuleOutcome {
  rule: string | undefined;
  reply: ReplySpec;
}

/** What the engine answers when no rule matches; says what answered and how to script it. */
export const FALLBACK_TEXT =
  "This is the local scripted model (dan mock-llm), not a real model: no rule matched this request. Script an answer with a rules file: 'dan mock-llm --rules FILE'.";

const PATTERN_FIELDS = ['model', 'system', 'lastUser', 'anyText'] as const;

/**
 * The scripted model: an ordered rule list, first match wins, each rule used at most `times`
 * times. Shared by the local server and `ScriptedLlmClient`, so a script behaves the same in
 * process and over HTTP. State (the `times` counts) lives here; `setRules` starts over.
 */
export class RuleEngine {
  private rules: readonly Rule[] = [];
  private uses = new Map<Rule, number>();
  private patterns = new Map<string, RegExp>();

  constructor(rules: readonly Rule[] = []) {
    this.setRules(rules);
  }

  setRules(rules: readonly Rule[]): void {
    this.rules = [...rules];
    this.uses = new Map();
  }

  decide(request: LlmRequest): RuleOutcome {
    const facts = requestFacts(request);
    const base = builtinVars(facts);
    for (const rule of this.rules) {
      if (rule.times !== undefined && (this.uses.get(rule) ?? 0) >= rule.times) continue;
      const captures = this.match(rule, facts);
      if (!captures) continue;
      this.uses.set(rule, (this.uses.get(rule) ?? 0) + 1);
      const vars = { ...base, ...captures };
      const reply = typeof rule.reply === 'function' ? rule.reply({ request, facts, vars }) : renderReply(rule.reply, vars);
      return { rule: rule.name, reply };
    }
    return { rule: undefined, reply: { text: FALLBACK_TEXT } };
  }

  /** The named groups captured when `rule` matches, or undefined when it does not. */
  match(rule: Rule, facts: RequestFacts): Record<string, string> | undefined {
    const when = rule.when ?? {};
    if (when.hasToolResult !== undefined && when.hasToolResult !== facts.hasToolResult) return undefined;
    if (when.tool !== undefined && !facts.tools.includes(when.tool)) return undefined;
    const captures: Record<string, string> = {};
    for (const field of PATTERN_FIELDS) {
      const source = when[field];
      if (source === undefined) continue;
      const found = this.pattern(source).exec(facts[field]);
      if (!found) return undefined;
      for (const [name, value] of Object.entries(found.groups ?? {})) if (value !== undefined) captures[name] = value;
    }
    return captures;
  }

  private pattern(source: string): RegExp {
    let compiled = this.patterns.get(source);
    if (!compiled) {
      compiled = compilePattern(source);
      this.patterns.set(source, compiled);
    }
    return compiled;
  }
}

function renderReply(reply: ReplySpec, vars: Readonly<Record<string, string>>): ReplySpec {
  const rendered: ReplySpec = {};
  if (reply.text !== undefined) rendered.text = renderTemplate(reply.text, vars);
  if (reply.tool_use) {
    rendered.tool_use = reply.tool_use.map((call) => ({ name: call.name, input: renderDeep(call.input, vars) as Record<string, unknown> }));
  }
  if (reply.stop_reason) rendered.stop_reason = reply.stop_reason;
  if (reply.error) rendered.error = { ...reply.error, message: renderTemplate(reply.error.message, vars) };
  if (reply.delay_ms !== undefined) rendered.delay_ms = reply.delay_ms;
  return rendered;
}
