import { InvalidInputError } from '../errors.js';
import { isSafeDomainName } from '../protocol/agent.js';
import { scrubText } from '../scrub.js';
import { CONFIDENCE_DEFAULT, clampConfidence } from './elf-confidence.js';
import { HEURISTIC_SOURCES, OUTCOME_STATUSES, type HeuristicSource, type OutcomeStatus } from './elf-types.js';

/**
 * Checks of everything that reaches ELF memory from a person, a model or the bus. Values arrive
 * as unknown JSON, so each check looks at the type too; every error names the field and the reason.
 * Every text that passes is scrubbed (`scrubText`): the database outlives the task and its text is
 * shown to later tasks, so a secret a worker echoed must not land in it.
 */

export const RULE_MAX_CHARS = 500;
export const CONTEXT_MAX_CHARS = 2_000;
/** Outcome texts come from the network, not a person: longer ones are shortened, not refused. */
export const OUTCOME_TEXT_MAX_CHARS = 4_000;
export const ALL_DOMAINS = '*';

export function text(value: unknown, field: string, options: { max: number; required?: boolean }): string {
  if (value === undefined || value === null) {
    if (options.required) throw new InvalidInputError(`${field} is required`);
    return '';
  }
  if (typeof value !== 'string') throw new InvalidInputError(`${field} must be a string, got ${typeof value}`);
  const trimmed = value.trim();
  if (options.required && trimmed.length === 0) throw new InvalidInputError(`${field} must not be empty`);
  if (trimmed.length > options.max) throw new InvalidInputError(`${field} is ${trimmed.length} characters long; at most ${options.max} are allowed`);
  return scrubText(trimmed);
}

/** Shortens text that may be long by nature (an error with a stack) instead of refusing it. */
export function shortened(value: unknown, max = OUTCOME_TEXT_MAX_CHARS): string {
  if (typeof value !== 'string') return '';
  const trimmed = scrubText(value.trim());
  return trimmed.length <= max ? trimmed : `${trimmed.slice(0, max - 1)}…`;
}

export function domain(value: unknown, field = 'domain', options: { allowAll?: boolean } = {}): string {
  if (typeof value === 'string' && (isSafeDomainName(value) || (options.allowAll && value === ALL_DOMAINS))) return value;
  const shown = typeof value === 'string' ? `'${value.slice(0, 50)}'` : typeof value;
  const all = options.allowAll ? `, or '${ALL_DOMAINS}' for every domain` : '';
  throw new InvalidInputError(`${field} must be a domain name (a lowercase letter, then up to 39 lowercase letters, digits or '-')${all}; got ${shown}`);
}

/** In [0, 1] as given; returned clamped to [0.05, 0.95]. */
export function confidence(value: unknown, field = 'confidence'): number {
  if (value === undefined || value === null) return CONFIDENCE_DEFAULT;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new InvalidInputError(`${field} must be a number from 0 to 1, got ${typeof value === 'number' ? value : typeof value}`);
  }
  return clampConfidence(value);
}

export function source(value: unknown, field = 'source'): HeuristicSource {
  if (typeof value === 'string' && (HEURISTIC_SOURCES as readonly string[]).includes(value)) return value as HeuristicSource;
  throw new InvalidInputError(`${field} must be one of ${HEURISTIC_SOURCES.join(', ')}; got ${String(value)}`);
}

export function status(value: unknown, field = 'status'): OutcomeStatus {
  if (typeof value === 'string' && (OUTCOME_STATUSES as readonly string[]).includes(value)) return value as OutcomeStatus;
  throw new InvalidInputError(`${field} must be one of ${OUTCOME_STATUSES.join(', ')}; got ${String(value)}`);
}

export function taskId(value: unknown, field = 'taskId'): string {
  return text(value, field, { max: 200, required: true });
}

export function heuristicId(value: unknown, field = 'id'): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  throw new InvalidInputError(`${field} must be a positive integer heuristic id, got ${String(value)}`);
}

export function positiveInt(value: unknown, field: string, options: { fallback: number; max: number }): number {
  if (value === undefined || value === null) return options.fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > options.max) {
    throw new InvalidInputError(`${field} must be an integer from 1 to ${options.max}, got ${String(value)}`);
  }
  return value;
}

export function optionalNumber(value: unknown, field: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new InvalidInputError(`${field} must be a non-negative number, got ${String(value)}`);
  return Math.round(value);
}

/** A list of short strings (file paths, worker names): blanks dropped, duplicates once. */
export function stringList(value: unknown, field: string, options: { maxItems?: number; maxChars?: number } = {}): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new InvalidInputError(`${field} must be a list of strings`);
  const maxItems = options.maxItems ?? 1_000;
  const maxChars = options.maxChars ?? 1_000;
  if (value.length > maxItems) throw new InvalidInputError(`${field} has ${value.length} entries; at most ${maxItems} are allowed`);
  const out = new Set<string>();
  value.forEach((item: unknown, i) => {
    if (typeof item !== 'string') throw new InvalidInputError(`${field}[${i}] must be a string`);
    const trimmed = item.trim();
    if (trimmed.length > maxChars) throw new InvalidInputError(`${field}[${i}] is longer than ${maxChars} characters`);
    if (trimmed) out.add(scrubText(trimmed));
  });
  return [...out];
}

/** ISO-8601 or epoch ms, as epoch ms; `fallback` when absent. */
export function time(value: unknown, field: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new InvalidInputError(`${field} must be an ISO-8601 time or epoch milliseconds, got ${String(value)}`);
  return Math.round(ms);
}

/** Key that makes two rules the same when they differ only in case and spacing. */
export function ruleKey(rule: string): string {
  return rule.replace(/\s+/g, ' ').trim().toLowerCase();
}
