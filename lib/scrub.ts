import { knownSecrets, redactText } from './logger.js';

/**
 * The one scrub of untrusted text before it is stored (task logs, the log stream, results, events,
 * ELF, recorded model requests): the same redaction the process logs get, so a secret a worker's
 * Bash printed or a model echoed is `[redacted]` wherever a person or a later task could read it.
 * Stored text outlives the process and is read by others (`dan logs`, the ELF database, the AOF),
 * which is why it is scrubbed at the write and not only when shown.
 *
 * The secrets are those of this process's environment (`knownSecrets`), read on each call: agents
 * run in one process in tests and may change it; the lookup is a handful of variables.
 */
export function scrubText(text: string): string {
  return redactText(text, knownSecrets());
}

/** A copy of JSON-like `value` with every string in it scrubbed, at any depth; other values as they are. */
export function scrubValue<T>(value: T): T {
  if (typeof value === 'string') return scrubText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  const secrets = knownSecrets();
  // JSON round trip with a replacer: every depth, no recursion limit of our own; keys are scrubbed after.
  const json = JSON.stringify(value, (_key, field: unknown) => (typeof field === 'string' ? redactText(field, secrets) : field));
  return JSON.parse(redactText(json, secrets)) as T;
}

/** `JSON.stringify(value)` with every string in it scrubbed, for fields stored as JSON text. */
export function scrubJson(value: unknown): string {
  const secrets = knownSecrets();
  return redactText(JSON.stringify(value, (_key, field: unknown) => (typeof field === 'string' ? redactText(field, secrets) : field)), secrets);
}
