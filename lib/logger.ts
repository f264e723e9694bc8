import pino from 'pino';

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

export interface LoggerOptions {
  level?: string;
  /** `pretty`: one short human line per entry (the default on a terminal); `json`: pino's lines. */
  format?: 'pretty' | 'json';
  /** Fields on every line: agentId, role, domain. */
  base?: Record<string, unknown>;
  /** Where lines go; stderr by default so stdout stays clean for `--json` output. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env['DAN_LOG_LEVEL'] ?? 'info',
      base: options.base ?? {},
      redact: { paths: redactPaths, censor: '[redacted]' },
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
