import { readFileSync } from 'node:fs';
import { DanError, ExitCode, InvalidInputError } from '../errors.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', $: '$' };

/**
 * Reads the text of an env file the way docker compose reads `.env`, so one file serves both:
 * `KEY=VALUE` lines, an optional `export ` before the key, blank lines and `#` comments. A value is
 * taken as written (trimmed, up to a ` #` comment), or within single quotes (as is) or double quotes
 * (with \n, \t, \", \\ escapes). No `${VAR}` expansion: a value means what it says. A line that is
 * none of these is an error naming `file` and the line number.
 */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file}:${index + 1}`;
    const statement = line.replace(/^export\s+/, '');
    const equals = statement.indexOf('=');
    if (equals < 0) throw new InvalidInputError(`${where}: expected KEY=VALUE, got '${line}'; fix the line or comment it out with #`);
    const name = statement.slice(0, equals).trim();
    if (!NAME.test(name)) throw new InvalidInputError(`${where}: '${name}' is not a variable name (letters, digits and _, not starting with a digit); fix the line or comment it out with #`);
    values[name] = parseValue(statement.slice(equals + 1).trim(), where);
  });
  return values;
}

function parseValue(text: string, where: string): string {
  const quote = text[0];
  if (quote !== '"' && quote !== "'") return text.replace(/\s+#.*$/, '');
  let value = '';
  for (let at = 1; at < text.length; at++) {
    const ch = text[at] ?? '';
    if (ch === quote) {
      const rest = text.slice(at + 1).trim();
      if (rest !== '' && !rest.startsWith('#')) throw new InvalidInputError(`${where}: unexpected text after the closing quote: '${rest}'; quote the whole value`);
      return value;
    }
    if (quote === '"' && ch === '\\' && at + 1 < text.length) {
      const next = text[++at] ?? '';
      value += ESCAPES[next] ?? `\\${next}`;
      continue;
    }
    value += ch;
  }
  throw new InvalidInputError(`${where}: the value has no closing ${quote}; close the quote on the same line`);
}

/**
 * Adds the variables of the env file at `file` to `env`, where `env` does not set them already:
 * what is exported in the shell wins, as with compose. A missing file is no error; the names it
 * set are returned.
 */
export function loadEnvFile(file: string, env: NodeJS.ProcessEnv = process.env): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new DanError('env_file_unreadable', `cannot read ${file}: ${(error as Error).message}; fix its permissions or remove it`, { exitCode: ExitCode.usage, cause: error });
  }
  const added: string[] = [];
  for (const [name, value] of Object.entries(parseEnvFile(text, file))) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    added.push(name);
  }
  return added;
}
