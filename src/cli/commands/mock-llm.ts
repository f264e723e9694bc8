import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { createLogger, type Logger } from '../../../lib/logger.js';
import { LocalModelServer, type RecordedRequest } from '../../../lib/llm/local-server/local-model-server.js';
import type { LocalRateLimitOptions } from '../../../lib/llm/local-server/local-rate-limit.js';
import { loadRulesFile } from '../../../lib/llm/local-server/rules.js';
import { cliContext, type GlobalArgs } from '../cli-context.js';
import { untilStopSignal } from '../stop-signal.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

/** 8790: a fixed default so that DAN_LLM_URL and demo scripts can name it; `--port 0` takes a free one. */
export const MOCK_LLM_DEFAULT_PORT = 8790;

interface MockLlmArgs extends GlobalArgs {
  port: number;
  host: string;
  rules?: string;
  record?: string;
  rpm?: number;
  inputTpm?: number;
  outputTpm?: number;
  rateWindowMs?: number;
}

/** The command's flags, as `startMockLlm` takes them. */
export interface MockLlmOptions {
  port: number;
  host: string;
  /** A rules file; default: DAN_MOCK_LLM_RULES, else the built-in default rules. */
  rules?: string | undefined;
  /** Append each request to this file as one JSON line. */
  record?: string | undefined;
  json?: boolean;
  logger?: Logger;
  /** Where the start-up line goes; default stdout. */
  out?: NodeJS.WritableStream;
  /** Request bodies over this are answered 413 unread (DAN_LOCAL_LLM_MAX_BODY_BYTES); default 32 MiB. */
  maxBodyBytes?: number;
  /** Requests and tokens per window past which calls get 429 with `retry-after` (`--rpm`, `--input-tpm`, `--output-tpm`, `--rate-window-ms`). */
  rateLimit?: LocalRateLimitOptions;
}

/** A started `dan mock-llm`. */
export interface RunningMockLlm {
  url: string;
  server: LocalModelServer;
  /** Stops the server and flushes the record file. */
  stop(): Promise<void>;
}

/**
 * Starts the local model server as `dan mock-llm` does and prints its one start-up line; the
 * command waits for a signal around this. Separate so the command can be tested in process.
 */
export async function startMockLlm(options: MockLlmOptions): Promise<RunningMockLlm> {
  const out = options.out ?? process.stdout;
  const rulesFile = options.rules;
  const loaded = rulesFile ? await loadRulesFile(rulesFile) : undefined;
  let record: WriteStream | undefined;
  if (options.record) {
    mkdirSync(path.dirname(path.resolve(options.record)), { recursive: true });
    record = createWriteStream(options.record, { flags: 'a' });
  }
  const server = new LocalModelServer({
    // A tool its user runs to see what clients send: the recording is its point (GET /_dan/requests).
    serveRequests: true,
    ...(loaded ? { rules: loaded.rules } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
    ...(record ? { onRequest: (request: RecordedRequest) => record.write(`${JSON.stringify(request)}\n`) } : {}),
  });
  let url: string;
  try {
    url = await server.start({ port: options.port, host: options.host });
  } catch (error) {
    record?.end();
    throw error;
  }
  const rulesLabel = rulesFile ?? 'default';
  out.write(
    options.json
      ? `${JSON.stringify({ url, rules: rulesLabel, record: options.record ?? null })}\n`
      : `local model server on ${url} (scripted answers; rules: ${rulesLabel})\n`,
  );
  return {
    url,
    server,
    stop: async () => {
      await server.stop();
      if (record) await new Promise<void>((resolve) => record.end(() => resolve()));
    },
  };
}

/**
 * `dan mock-llm`: a local server that speaks the Anthropic Messages API with scripted answers,
 * for offline demos (point DAN_LLM_URL or ANTHROPIC_BASE_URL at it) and for users' own tests.
 * Runs until SIGINT or SIGTERM.
 */
export const mockLlmCommand: CommandModule<GlobalArgs, MockLlmArgs> = {
  ...COMMAND_HEADINGS.mockLlm,
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .option('port', { type: 'number', default: MOCK_LLM_DEFAULT_PORT, describe: 'Port to listen on (0: a free port)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to bind (no authentication: keep it on loopback)' })
      .option('rules', { type: 'string', describe: 'JSON rules file, tried before the default rules (default: DAN_MOCK_LLM_RULES)' })
      .option('record', { type: 'string', describe: 'Append every request to this file, one JSON line each' })
      .option('rpm', { type: 'number', describe: 'Requests per window past which /v1/messages answers 429 with retry-after, as the API does (default: no limit)' })
      .option('input-tpm', { type: 'number', describe: 'Input tokens per window past which it answers 429' })
      .option('output-tpm', { type: 'number', describe: 'Output tokens per window past which it answers 429' })
      .option('rate-window-ms', { type: 'number', default: 60_000, describe: 'The window of --rpm, --input-tpm and --output-tpm (shorter for tests)' })
      .check((a) => {
        for (const name of ['rpm', 'input-tpm', 'output-tpm', 'rate-window-ms'] as const) {
          const v = a[name];
          if (v !== undefined && (!Number.isInteger(v) || v < 0 || (name === 'rate-window-ms' && v === 0))) throw new Error(`--${name} must be a whole number${name === 'rate-window-ms' ? ' > 0' : ' >= 0'}`);
        }
        return true;
      })
      .option('json', { type: 'boolean', default: false, describe: 'Print the start-up line as JSON' }) as Argv<MockLlmArgs>,
  handler: async (argv: ArgumentsCamelCase<MockLlmArgs>) => {
    const logger = createLogger({ level: process.env['DAN_LOG_LEVEL'] ?? 'warn', base: { agentId: 'mock-llm' } });
    const running = await startMockLlm({
      port: argv.port,
      host: argv.host,
      rules: argv.rules ?? (process.env['DAN_MOCK_LLM_RULES'] || undefined),
      record: argv.record,
      json: Boolean(argv.json),
      logger,
      maxBodyBytes: cliContext(argv).config.llm.localMaxBodyBytes,
      ...(argv.rpm || argv.inputTpm || argv.outputTpm
        ? { rateLimit: { rpm: argv.rpm ?? 0, inputTpm: argv.inputTpm ?? 0, outputTpm: argv.outputTpm ?? 0, windowMs: argv.rateWindowMs ?? 60_000 } }
        : {}),
    });
    await untilStopSignal();
    await running.stop();
    logger.flush();
  },
};
