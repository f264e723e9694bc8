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
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything; for tests and library callers who bring none. */
export const silentLogger: Logger = pino({ level: 'silent' });
