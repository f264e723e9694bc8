import { InvalidInputError } from '../errors.js';

/**
 * The client a task belongs to (`metadata.client_id`): whose ELF memory it uses and, over the HTTP API,
 * whose key may see it. Defined here once, for the memory, the API keys and the tasks alike.
 */
export const DEFAULT_CLIENT_ID = 'default';
export const CLIENT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/i;

/**
 * A client id as it names a database file: checked against `CLIENT_ID_PATTERN` and lower-cased,
 * so `Acme` and `acme` are one client on every file system. Absent or empty means `default`.
 */
export function normalizeClientId(value: unknown): string {
  if (value === undefined || value === null || value === '') return DEFAULT_CLIENT_ID;
  if (typeof value !== 'string' || !CLIENT_ID_PATTERN.test(value)) {
    const shown = typeof value === 'string' ? `'${value.slice(0, 80)}'` : typeof value;
    throw new InvalidInputError(`client_id must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit; got ${shown}`);
  }
  return value.toLowerCase();
}
