import { knownSecrets, redactText, SECRET_ENV } from './logger.js';

let cached: { key: string; secrets: string[] } | undefined;

/** `knownSecrets()` of this process, worked out again only when one of the variables it reads changed. */
function secretsNow(): string[] {
  const key = [...SECRET_ENV, 'REDIS_URL'].map((name) => process.env[name] ?? '').join('\u0000');
  if (cached?.key !== key) cached = { key, secrets: knownSecrets() };
  return cached.secrets;
}

/**
 * The one scrub of untrusted text before it is stored (task logs, the log stream, results, events,
 * ELF, recorded model requests): the same redaction the process logs get, so a secret a worker's
 * Bash printed or a model echoed is `[redacted]` wherever a person or a later task could read it.
 * Stored text outlives the process and is read by others (`dan logs`, the ELF database, the AOF),
 * which is why it is scrubbed at the write and not only when shown.
 *
 * The secrets are those of this process's environment (`knownSecrets`), looked at on each call:
 * agents run in one process in tests and may change it. Parsing REDIS_URL once per log line would
 * cost more than the scrub, so the list is cached until one of its variables changes.
 */
export function scrubText(text: string): string {
  return redactText(text, secretsNow());
}

/** A copy of JSON-like `value` with every string in it scrubbed, at any depth; other values as they are. */
export function scrubValue<T>(value: T): T {
  if (typeof value === 'string') return scrubText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  const secrets = secretsNow();
  // JSON round trip with a replacer: every depth, no recursion limit of our own; keys are scrubbed after.
  const json = JSON.stringify(value, (_key, field: unknown) => (typeof field === 'string' ? redactText(field, secrets) : field));
  return JSON.parse(redactText(json, secrets)) as T;
}

/** `JSON.stringify(value)` with every string in it scrubbed, for fields stored as JSON text. */
export function scrubJson(value: unknown): string {
  const secrets = secretsNow();
  return redactText(JSON.stringify(value, (_key, field: unknown) => (typeof field === 'string' ? redactText(field, secrets) : field)), secrets);
}
