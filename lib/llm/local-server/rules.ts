import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { InvalidInputError } from '../../errors.js';
import type { LlmRequest, StopReason } from '../types.js';
import { defaultRules } from './default-rules.js';
import type { RequestFacts } from './request-facts.js';
import { BUILTIN_TEMPLATE_NAMES, placeholderNames } from './template.js';

/**
 * When a rule applies. Every field given must hold. Patterns are JavaScript regular expressions
 * compiled with the `m` flag (so `^` and `$` match at line ends); start one with `(?i)` to ignore
 * case. Named groups (`(?<name>...)`) become template values.
 */
export interface RuleWhen {
  system?: string;
  lastUser?: string;
  anyText?: string;
  hasToolResult?: boolean;
  /** A tool of this name must be offered. */
  tool?: string;
  model?: string;
}

/** A tool call in a reply; in JSON rules every string inside `input` is a template. */
export interface ReplyToolUse {
  name: string;
  input: Record<string, unknown>;
}

/** An HTTP error the server answers instead of a message, in Anthropic's error shape. */
export interface ReplyError {
  status: number;
  type: string;
  message: string;
  /** Sent as `retry-after-ms`, which the SDK honours before retrying. */
  retry_after_ms?: number;
}

/** What the model answers. `stop_reason` defaults to `tool_use` when there are tool calls, else `end_turn`. */
export interface ReplySpec {
  text?: string;
  tool_use?: ReplyToolUse[];
  stop_reason?: Exclude<StopReason, null>;
  error?: ReplyError;
  /** Wait this long before answering: a slow model, for demos and for tests of what happens meanwhile. */
  delay_ms?: number;
}

/** What a programmatic reply sees: the request, its facts and the template values (captures win over built-ins). */
export interface RuleMatch {
  request: LlmRequest;
  facts: RequestFacts;
  vars: Readonly<Record<string, string>>;
}

/**
 * One scripted behaviour; a rule list is ordered and the first rule that matches answers.
 * A JSON rule's strings are templates; a programmatic rule (the built-in defaults) computes its
 * reply and nothing in it is rendered again.
 */
export interface Rule {
  name: string;
  when?: RuleWhen;
  reply: ReplySpec | ((match: RuleMatch) => ReplySpec);
  /** The rule answers at most this many requests, then is skipped. */
  times?: number;
}

/** A rules file as loaded. */
export interface LoadedRules {
  source: string;
  /** Ready to serve: the file's rules, then the default rules unless the file turned them off. */
  rules: Rule[];
  /** The file's own rules. */
  fileRules: Rule[];
  /** False when the file says `"defaults": false`. */
  useDefaults: boolean;
}

/** Compiles a rule pattern: the `m` flag always, `i` when the pattern starts with `(?i)`. */
export function compilePattern(pattern: string): RegExp {
  return pattern.startsWith('(?i)') ? new RegExp(pattern.slice(4), 'mi') : new RegExp(pattern, 'm');
}

const pattern = z.string().superRefine((source, ctx) => {
  try {
    compilePattern(source);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(error as Error).message}` });
  }
});

const stopReasons = ['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal'] as const;

const ruleSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  when: z
    .strictObject({
      system: pattern.optional(),
      lastUser: pattern.optional(),
      anyText: pattern.optional(),
      hasToolResult: z.boolean().optional(),
      tool: z.string().min(1).optional(),
      model: pattern.optional(),
    })
    .optional(),
  reply: z
    .strictObject({
      text: z.string().optional(),
      tool_use: z.array(z.strictObject({ name: z.string().min(1), input: z.record(z.string(), z.unknown()).default({}) })).optional(),
      stop_reason: z.enum(stopReasons).optional(),
      error: z
        .strictObject({
          status: z.number().int().min(400).max(599),
          type: z.string().min(1),
          message: z.string(),
          retry_after_ms: z.number().int().nonnegative().optional(),
        })
        .optional(),
      delay_ms: z.number().int().nonnegative().max(600_000).optional(),
    })
    .refine((r) => r.text !== undefined || (r.tool_use?.length ?? 0) > 0 || r.error !== undefined, {
      message: 'a reply needs text, tool_use or error',
    }),
  times: z.number().int().positive().optional(),
});

/**
 * Validates rules from parsed JSON: a list of rules, answered first, with the default rules
 * behind them for everything else; or `{ "rules": [...], "defaults": false }` for the file's rules
 * alone (unmatched requests then get the fallback text). Every problem is listed at once, each naming the
 * source and the rule's index, and templates may only use built-ins and the rule's own groups.
 */
export function parseRules(json: unknown, source: string): LoadedRules {
  let list: unknown;
  let useDefaults = true;
  if (Array.isArray(json)) {
    list = json;
  } else if (json && typeof json === 'object' && Array.isArray((json as { rules?: unknown }).rules)) {
    list = (json as { rules: unknown }).rules;
    const defaults = (json as { defaults?: unknown }).defaults;
    if (defaults !== undefined && typeof defaults !== 'boolean') throw invalid(source, ['"defaults" must be true or false']);
    useDefaults = defaults !== false;
  } else {
    throw invalid(source, ['expected a JSON list of rules, or an object {"rules": [...]}']);
  }

  const problems: string[] = [];
  const rules: Rule[] = [];
  (list as unknown[]).forEach((raw, index) => {
    const label = `rule[${index}]${ruleName(raw)}`;
    const parsed = ruleSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${label} ${issue.path.join('.') || '(rule)'}: ${issue.message}`);
      return;
    }
    const { description: _description, ...rule } = parsed.data;
    problems.push(...unknownPlaceholders(rule).map((name) => `${label} reply: {{${name}}} is neither a built-in (${BUILTIN_TEMPLATE_NAMES.join(', ')}) nor a named group of this rule's patterns`));
    rules.push(rule as Rule);
  });
  if (problems.length > 0) throw invalid(source, problems);
  return { source, rules: useDefaults ? [...rules, ...defaultRules()] : rules, fileRules: rules, useDefaults };
}

/** Reads and validates a rules file; every failure names the file. */
export async function loadRulesFile(path: string): Promise<LoadedRules> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`rules file ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): check the --rules path or DAN_MOCK_LLM_RULES`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`rules file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseRules(json, path);
}

function unknownPlaceholders(rule: { when?: RuleWhen | undefined; reply: ReplySpec }): string[] {
  const known = new Set<string>(BUILTIN_TEMPLATE_NAMES);
  for (const source of [rule.when?.system, rule.when?.lastUser, rule.when?.anyText, rule.when?.model]) {
    for (const group of (source ?? '').matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)) known.add(group[1] ?? '');
  }
  const used = placeholderNames([rule.reply.text ?? '', rule.reply.tool_use ?? [], rule.reply.error?.message ?? '']);
  return [...new Set(used.filter((name) => !known.has(name)))];
}

function ruleName(raw: unknown): string {
  const name = raw && typeof raw === 'object' ? (raw as { name?: unknown }).name : undefined;
  return typeof name === 'string' && name ? ` "${name}"` : '';
}

function invalid(source: string, problems: string[]): InvalidInputError {
  return new InvalidInputError(`rules file ${source} is invalid:\n${problems.map((p) => `  ${p}`).join('\n')}`);
}
