import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { DanError, InvalidInputError } from '../../../lib/errors.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis } from '../cli-context.js';
import type { ComposeProject } from '../compose-ui.js';
import { COMPOSE_UI, composeTarget, runningComposeMain, startComposeUi } from '../compose-ui.js';
import { freePort } from '../local-redis.js';
import { REDIS_COMMANDER_VERSION, startRedisCommander, type RedisCommanderLogin } from '../redis-commander.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface InspectArgs extends GlobalArgs {
  local?: boolean;
  compose?: boolean;
  port: number;
  open: boolean;
}

/** Tries xdg-open (open on macOS); says so on stderr when there is none, and never fails. */
function openBrowser(url: string): void {
  const [program, ...args] = process.platform === 'darwin' ? ['open', url] : process.platform === 'win32' ? ['cmd', '/c', 'start', '""', url] : ['xdg-open', url];
  const cannot = () => process.stderr.write(`dan inspect: could not open a browser with ${program}; open ${url} yourself\n`);
  try {
    const child = spawn(program as string, args, { stdio: 'ignore', detached: true });
    child.once('error', cannot);
    child.unref();
  } catch {
    cannot();
  }
}

/**
 * Compose when asked, or when the network's main orchestrator runs as a compose service and its
 * compose files are at hand; else a local Redis Commander.
 */
async function chooseMode(argv: InspectArgs): Promise<{ mode: 'compose'; project: ComposeProject | undefined } | { mode: 'local' }> {
  if (argv.local) return { mode: 'local' };
  const { LABELS } = await import('../../../lib/spawner/docker-spawner.js');
  const project = await runningComposeMain(LABELS.role);
  if (argv.compose || (project && composeTarget(project))) return { mode: 'compose', project };
  return { mode: 'local' };
}

export const inspectCommand: CommandModule<GlobalArgs, InspectArgs> = {
  ...COMMAND_HEADINGS.inspect,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('local', { type: 'boolean', describe: 'Run Redis Commander here against REDIS_URL, even when the compose network runs' })
    .option('compose', { type: 'boolean', describe: `Start the compose service ${COMPOSE_UI.service} (profile ${COMPOSE_UI.profile}), even when no compose main orchestrator runs` })
    .conflicts('local', 'compose')
    .option('port', { alias: 'p', type: 'number', default: COMPOSE_UI.port, describe: 'Port of the local Redis Commander, on 127.0.0.1 (0: a free one)' })
    .option('open', { type: 'boolean', default: false, describe: 'Also open it in a browser (xdg-open or open), when there is one' })
    .epilogue([
      'Compose: when the main orchestrator runs as a compose service, or with --compose, runs',
      `'docker compose --profile ${COMPOSE_UI.profile} up -d ${COMPOSE_UI.service}' ('docker-compose' v1 when there is no 'docker compose')`,
      `and prints http://localhost:${COMPOSE_UI.port}; the service keeps running.`,
      '',
      'Local: otherwise (no Docker, or --local), runs the redis-commander npm package against REDIS_URL',
      '(host, port, user, password, database; TLS for rediss://) on 127.0.0.1 and --port, behind a login made',
      'for the run (printed with the URL; in --json as username and password), installed or',
      `through 'npx --yes redis-commander@${REDIS_COMMANDER_VERSION}'; prints the URL once it answers, and stops it on Ctrl-C.`,
      '',
      '--json prints {"url", "mode"}. Exit codes: 0 ok, 1 Redis Commander could not be started, 3 Redis unreachable.',
    ].join('\n')) as Argv<InspectArgs>,
  handler: async (argv: ArgumentsCamelCase<InspectArgs>) => {
    const ctx = cliContext(argv);
    if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65_535) throw new InvalidInputError(`--port must be a port number (0 for a free one), not ${argv.port}`);
    // Redis first: a UI on a Redis that does not answer helps nobody (exit 3, naming the URL).
    (await cliRedis(ctx)).redis.disconnect();
    const report = (url: string, mode: 'compose' | 'local', note: string, login?: RedisCommanderLogin) => {
      const shown = login ? `${note}; log in as ${login.username}, password ${login.password}` : note;
      process.stdout.write(ctx.json ? `${JSON.stringify({ url, mode, ...login })}\n` : `Redis Commander: ${url} (${shown})\n`);
      if (argv.open) openBrowser(url);
    };

    const chosen = await chooseMode(argv);
    if (chosen.mode === 'compose') {
      const url = await startComposeUi(chosen.project, (message) => process.stderr.write(`dan inspect: ${message}\n`));
      report(url, 'compose', `compose service ${COMPOSE_UI.service}; it keeps running: stop it with 'docker compose --profile ${COMPOSE_UI.profile} stop ${COMPOSE_UI.service}'`);
      return;
    }

    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // A fresh login per run: the page on 127.0.0.1 is open to every local user, and it reads Redis
    // with the credentials of REDIS_URL (or the viewer's, on the private Redis of `dan up`).
    const login: RedisCommanderLogin = { username: 'dan', password: randomBytes(18).toString('base64url') };
    try {
      const ui = await startRedisCommander({
        login,
        redisUrl: ctx.config.redisUrl,
        port: argv.port === 0 ? await freePort() : argv.port,
        keyPrefix: ctx.config.keyPrefix,
        logger: ctx.logger,
        signal: stop.signal,
        onSlowStart: (command) => process.stderr.write(`dan inspect: starting Redis Commander${command.via === 'npx' ? ' with npx (the first run downloads it)' : ''}...\n`),
      });
      if (!ui) return;
      report(ui.url, 'local', 'Ctrl-C stops it', login);
      const stopped = stop.signal.aborted ? Promise.resolve('') : new Promise<string>((resolve) => stop.signal.addEventListener('abort', () => resolve(''), { once: true }));
      const reason = await Promise.race([stopped, ui.exited]);
      await ui.stop();
      if (reason) throw new DanError('ui_stopped', `Redis Commander stopped: ${reason}; run with DAN_LOG_LEVEL=debug to see its output`);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
