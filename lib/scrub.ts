import { knownSecrets, redactText, SECRET_ENV } from './logger.js';

const WATCHED = [...SECRET_ENV, 'REDIS_URL'];
let cached: { values: (string | undefined)[]; secrets: string[] } | undefined;

/**
 * `knownSecrets()` of this process, worked out again only when one of the variables it reads changed.
 * The variables are read on every call (a cache kept for a turn of the event loop missed a secret set
 * in that turn), compared one by one with the last values, with nothing allocated when none changed.
 */
function secretsNow(): string[] {
  let changed = cached === undefined;
  const values = cached?.values ?? [];
  for (let i = 0; i < WATCHED.length; i++) {
    const value = process.env[WATCHED[i] as string];
    if (value !== values[i]) {
      changed = true;
      values[i] = value;
    }
  }
  if (changed) cached = { values, secrets: knownSecrets() };
  return (cached as { secrets: string[] }).secrets;
}

/** Texts and values scrubbed against one read of the secrets: for the fields of one write, read once. */
export interface Scrubber {
  text(text: string): string;
  /** `JSON.stringify(value)` with every string in it scrubbed, for fields stored as JSON text. */
  json(value: unknown): string;
}

/** One read of the secrets for several texts written together (a result's output, error and log line). */
export function scrubberNow(): Scrubber {
  const secrets = secretsNow();
  return {
    text: (text) => redactText(text, secrets),
    json: (value) => {
      // JSON text with no escape in it holds every string as it is, between quotes: what the patterns
      // and the secrets match in a string they match there too, so one pass over the text does, at half
      // the cost of scrubbing each string on the way (a replacer). An escape (a newline written `\n`, a
      // quote in a secret) can hide a match from the text: then string by string, as before.
      const text = JSON.stringify(value);
      if (!text.includes('\\')) return redactText(text, secrets);
      return redactText(JSON.stringify(value, (_key, field: unknown) => (typeof field === 'string' ? redactText(field, secrets) : field)), secrets);
    },
  };
}

/**
 * The one scrub of untrusted text before it is stored (task logs, the log stream, results, events,
 * ELF, recorded model requests): the same redaction the process logs get, so a secret a worker's
 * Bash printed or a model echoed is `[redacted]` wherever a person or a later task could read it.
 * Stored text outlives the process and is read by others (`dan logs`, the ELF database, the AOF),
 * which is why it is scrubbed at the write and not only when shown.
 *
 * The secrets are those of this process's environment (`knownSecrets`), looked at on each call:
 * agents run in one process in tests and may change it. Texts written together share one look
 * (`scrubberNow`): a look per text had been a twentieth of a busy main orchestrator's time.
 */
export function scrubText(text: string): string {
  return redactText(text, secretsNow());
}

/** A copy of JSON-like `value` with every string in it scrubbed, at any depth; other values as they are. */
export function scrubValue<T>(value: T): T {
  if (typeof value === 'string') return scrubText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  // JSON round trip with a replacer: every depth, no recursion limit of our own; keys are scrubbed after.
  return JSON.parse(scrubberNow().json(value)) as T;
}

/** `JSON.stringify(value)` with every string in it scrubbed, for fields stored as JSON text. */
export function scrubJson(value: unknown): string {
  return scrubberNow().json(value);
}
