import pino from 'pino';
import { redisUrlPasswords } from './redis/redis-url.js';

export type Logger = pino.Logger;

/**
 * Paths pino blanks out in every line. Secrets are read only where used, but an options object or an
 * error can still carry one into a log call; redaction is the last line of defence.
 */
export const redactPaths = [
  'apiKey', '*.apiKey', 'password', '*.password', 'authorization', '*.authorization',
  'headers.authorization', 'headers["x-api-key"]', '*.headers["x-api-key"]',
  'env.ANTHROPIC_API_KEY', 'env.REDIS_PASSWORD', 'ANTHROPIC_API_KEY', 'REDIS_PASSWORD', 'redisUrl', '*.redisUrl',
];

/** Keys whose values are secrets wherever they sit in a logged object, at any depth. */
const SECRET_KEYS = /^(password|passwd|apikey|api_key|x-api-key|authorization|token|secret|anthropic_api_key|anthropic_auth_token|redis_password|claude_code_oauth_token)$/i;
/** Environment variables whose values are secrets: their values are blanked in every string logged. */
export const SECRET_ENV = [
  'ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'REDIS_PASSWORD', 'CLAUDE_CODE_OAUTH_TOKEN', 'DAN_GATEWAY_COMPOSE_TOKEN',
  'REDIS_MAIN_PASSWORD', 'REDIS_AGENT_PASSWORD', 'REDIS_CLIENT_PASSWORD', 'REDIS_VIEWER_PASSWORD',
];
const CENSOR = '[redacted]';
// user:password@ in any URL (redis://:pw@host, rediss://user:pw@host, https://u:p@host).
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^:/@\s]*):([^@\s]+)@/gi;
// Anthropic keys and tokens by their shape, wherever they appear.
const ANTHROPIC_KEY = /\bsk-ant-[A-Za-z0-9_-]{8,}/g;

/**
 * The secret values this process knows of: the named environment variables and the password of
 * REDIS_URL. Shorter than 4 characters, a value would blank ordinary words, so it is left to the
 * patterns.
 */
export function knownSecrets(env: NodeJS.ProcessEnv = process.env, extra: readonly string[] = []): string[] {
  const values = [...SECRET_ENV.map((name) => env[name]), ...extra];
  const url = env['REDIS_URL'];
  if (url) values.push(...redisUrlPasswords(url));
  return [...new Set(values.filter((v): v is string => typeof v === 'string' && v.length >= 4))];
}

/** `text` with URL credentials, Anthropic keys and every known secret value replaced by the censor. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  // A password already masked (`redactUrl` writes `***`) is left as it is.
  let out = text.replace(URL_CREDENTIALS, (m: string, scheme: string, user: string, password: string) => (password === '***' || password === CENSOR ? m : `${scheme}${user}:${CENSOR}@`)).replace(ANTHROPIC_KEY, CENSOR);
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(CENSOR);
  return out;
}

/**
 * A copy of `value` safe to log: secret keys blanked at any depth, strings scrubbed with
 * `redactText`, errors copied with their message, stack, fields and cause scrubbed.
 * Objects that are not plain (buffers, clients, class instances) are left alone.
 */
export function redactValue(value: unknown, secrets: readonly string[] = [], depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redactText(value, secrets);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (value instanceof Error) {
    // A copy of the same class, so pino still names its type; message, stack, fields and cause scrubbed.
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Error & Record<string, unknown>;
    for (const [key, field] of Object.entries(value)) copy[key] = SECRET_KEYS.test(key) ? CENSOR : redactValue(field, secrets, depth + 1, seen);
    for (const key of ['message', 'stack'] as const) {
      if (value[key] !== undefined) Object.defineProperty(copy, key, { value: redactText(value[key], secrets), enumerable: false, writable: true, configurable: true });
    }
    if (value.cause !== undefined) Object.defineProperty(copy, 'cause', { value: redactValue(value.cause, secrets, depth + 1, seen), enumerable: false, writable: true, configurable: true });
    return copy;
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets, depth + 1, seen));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    out[key] = SECRET_KEYS.test(key) && field !== undefined && field !== '' ? CENSOR : redactValue(field, secrets, depth + 1, seen);
  }
  return out;
}

export interface LoggerOptions {
  level?: string;
  /** `pretty`: one short human line per entry (the default on a terminal); `json`: pino's lines. */
  format?: 'pretty' | 'json';
  /** Fields on every line: agentId, role, domain. */
  base?: Record<string, unknown>;
  /** Where lines go; stderr by default so stdout stays clean for `--json` output. */
  destination?: pino.DestinationStream;
  /** Secret values to blank in every line besides those `knownSecrets` finds in the environment. */
  secrets?: readonly string[];
}

/**
 * The network's logger. Secrets are kept out of every line twice over: pino's `redact` paths, and a
 * pass over each call's arguments (message, objects at any depth, errors) that blanks secret keys,
 * passwords in URLs, Anthropic keys and the secret values of this process's environment.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = knownSecrets(process.env, options.secrets ?? []);
  return pino(
    {
      level: options.level ?? process.env['DAN_LOG_LEVEL'] ?? 'info',
      base: options.base ?? {},
      redact: { paths: redactPaths, censor: CENSOR },
      hooks: {
        logMethod(args, method) {
          const [first, ...rest] = args as unknown[];
          // An error logged on its own keeps pino's shape: `err` plus its message as the message.
          const head = first instanceof Error ? [{ err: redactValue(first, secrets) }, ...(rest.length === 0 ? [redactText(first.message, secrets)] : [])] : [redactValue(first, secrets)];
          const scrubbed = [...head, ...rest.map((arg) => redactValue(arg, secrets))];
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? (resolveFormat(options.format) === 'pretty' ? prettyStderr() : pino.destination({ fd: 2, sync: false })),
  );
}

/** The log format in force: the option, else DAN_LOG_FORMAT, else pretty on a terminal. */
export function resolveFormat(format?: LoggerOptions['format']): 'pretty' | 'json' {
  const wanted = format ?? process.env['DAN_LOG_FORMAT'];
  if (wanted === 'json' || wanted === 'pretty') return wanted;
  return process.stderr.isTTY ? 'pretty' : 'json';
}

const LEVEL_COLOURS: Record<string, string> = { fatal: '31', error: '31', warn: '33', info: '36', debug: '90', trace: '90' };
const SHOWN_FIRST = ['agentId', 'domain', 'taskId'];
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', ...SHOWN_FIRST]);

/** Formats one pino JSON line as `time level [agent] [task] message key=value ...`. */
export function formatLogLine(json: string, colour: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const paint = (code: string, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
  const level = String(entry['level'] ?? 'info');
  const time = String(entry['time'] ?? '').slice(11, 23);
  const who = [entry['agentId'], entry['taskId'] ? `task ${String(entry['taskId'])}` : undefined].filter(Boolean).map(String);
  const rest = Object.entries(entry)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  if (entry['domain'] && !String(entry['agentId'] ?? '').startsWith(String(entry['domain']))) rest.unshift(`domain=${String(entry['domain'])}`);
  return [paint('90', time), paint(LEVEL_COLOURS[level] ?? '0', level.padEnd(5)), who.length ? paint('35', `[${who.join(' ')}]`) : '', String(entry['msg'] ?? ''), paint('90', rest.join(' '))]
    .filter((part) => part !== '')
    .join(' ');
}

function prettyStderr(): pino.DestinationStream {
  const colour = Boolean(process.stderr.isTTY) && !process.env['NO_COLOR'];
  return { write: (line: string) => void process.stderr.write(`${formatLogLine(line.trimEnd(), colour)}\n`) };
}

/** A logger that drops everything; for tests and library callers who bring none. */
export const silentLogger: Logger = pino({ level: 'silent' });
