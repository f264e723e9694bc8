import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { InvalidInputError } from '../../../lib/errors.js';
import { startApi } from '../../api/serve.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext } from '../cli-context.js';
import { untilStopSignal } from '../stop-signal.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface ServeArgs extends GlobalArgs {
  port: number;
  host: string;
  requireKeys?: boolean;
}

/** 8000: the port the HTTP job APIs dan's users come from listen on, so their scripts keep working. */
export const API_DEFAULT_PORT = 8000;

/**
 * `dan serve`: the HTTP API (README "The HTTP API") as its own process, stateless, so several may
 * run against one Redis. Runs until SIGINT or SIGTERM, then finishes the requests in flight.
 */
export const serveCommand: CommandModule<GlobalArgs, ServeArgs> = {
  ...COMMAND_HEADINGS.serve,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('port', { type: 'number', default: API_DEFAULT_PORT, describe: 'Port to listen on (0: a free one)' })
    .option('host', { type: 'string', default: '127.0.0.1', describe: "Address to bind; beyond loopback only once a key exists ('dan keys create')" })
    .option('require-keys', { type: 'boolean', default: false, describe: 'Answer every request but /health only with a key, even while none exists (then 401 until one is made); lets a non-loopback --host start before any key exists' })
    .example('$0 serve', 'on http://127.0.0.1:8000')
    .example('$0 keys create --client acme && $0 serve --host 0.0.0.0', 'reachable from other machines, with keys')
    .epilog('Exit codes: 0 stopped by a signal, 2 bad options (or a non-loopback --host without keys, or the port in use), 3 Redis unreachable.') as Argv<ServeArgs>,
  handler: async (argv: ArgumentsCamelCase<ServeArgs>) => {
    if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65_535) throw new InvalidInputError(`--port must be a port number from 0 to 65535, got ${argv.port}`);
    const ctx = cliContext(argv, undefined, { agentId: 'api' });
    const running = await startApi({ config: ctx.config, logger: ctx.logger, host: argv.host, port: argv.port, requireKeys: argv.requireKeys === true });
    process.stdout.write(ctx.json ? `${JSON.stringify({ url: running.url })}\n` : `dan API on ${running.url} (OpenAPI: ${running.url}/openapi.json)\n`);
    await untilStopSignal();
    await running.stop();
    ctx.logger.flush();
  },
};
