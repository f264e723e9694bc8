import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { DanError, redactUrl } from '../../../lib/errors.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliOverrides } from '../cli-context.js';
import { loadConfig } from '../../../lib/config.js';
import { ensureRedis } from '../local-redis.js';
import { agentUrlFor, readRedisAuth } from '../redis-auth-file.js';
import { exitIfStuck, stopProblemsMessage } from '../../../lib/runtime/agent-lifecycle.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface UpArgs extends GlobalArgs {
  startRedis: boolean;
  quiet: boolean;
  spawner?: 'process' | 'docker' | 'swarm' | 'external';
  metricsPort?: number;
}

export const upCommand: CommandModule<GlobalArgs, UpArgs> = {
  ...COMMAND_HEADINGS.up,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('start-redis', { type: 'boolean', default: true, describe: 'Start a private redis-server if nothing answers at REDIS_URL on this machine' })
    .option('spawner', { type: 'string', choices: ['process', 'docker', 'swarm', 'external'], describe: 'How domains start: local processes, containers on the Docker engine, services on a Docker Swarm, or external (started by whatever runs them, adopted by their heartbeats) (default: DAN_SPAWNER, else process)' })
    .option('metrics-port', { type: 'number', describe: "Serve GET /metrics for Prometheus on this port (default: DAN_METRICS_PORT, else off); it listens on DAN_METRICS_HOST, default 127.0.0.1" })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: "Do not echo the domain agents' log lines" }) as unknown as Argv<UpArgs>,
  handler: async (argv: ArgumentsCamelCase<UpArgs>) => {
    // No base agent id: every line names the agent it is about (main or a domain).
    const settings: Record<string, string> = {
      ...(argv.spawner ? { DAN_SPAWNER: argv.spawner } : {}),
      ...(argv.metricsPort !== undefined ? { DAN_METRICS_PORT: String(argv.metricsPort) } : {}),
    };
    const ctx = cliContext(argv, 'info', {}, settings);
    const redis = await ensureRedis(ctx.config.redisUrl, ctx.logger, argv.startRedis, ctx.config.keyPrefix);
    // A private Redis has passwords: main connects as its `main` user, its domains as `agent`, which
    // cannot reach the model gateway's tokens.
    const agentRedisUrl = redis.agentUrl ?? agentUrlFor(redis.url, readRedisAuth());
    const config = redis.url === ctx.config.redisUrl ? ctx.config : loadConfig(process.env, { ...cliOverrides(argv, settings), REDIS_URL: redis.url });
    // Loaded here, not at start-up: every other command would otherwise pay for the model SDK.
    const { echoAgentLine, runNetwork } = await import('../../main/run-network.js');
    const network = await runNetwork({
      config, logger: ctx.logger, redisUrl: redis.url, agentRedisUrl,
      ...(argv.quiet ? {} : { onAgentLine: (_agentId: string, line: string) => echoAgentLine(line) }),
    });
    ctx.logger.info({ redis: redactUrl(redis.url), agentId: network.main.agentId }, "network up: send work with 'dan send main \"...\"'; Ctrl-C stops it");
    // Until a signal, or until the main orchestrator stops on its own (another one took its place):
    // then this process must not linger as a network that serves nothing.
    const why = await Promise.race([stopSignal(), network.main.stopped.then(() => 'replaced' as const)]);
    if (why !== 'replaced') {
      ctx.logger.info({ signal: why, graceMs: ctx.config.shutdownGraceMs }, 'shutting down: finishing or handing back work in flight');
      exitIfStuck(ctx.logger, ctx.config.shutdownGraceMs);
    }
    await network.stop();
    await redis.stop();
    const end = await network.main.lifecycle.done;
    if (end.problems.length > 0) throw new DanError('stop_incomplete', stopProblemsMessage(end));
    ctx.logger.info('network stopped');
    if (why === 'replaced') {
      throw new DanError('main_replaced', `the main orchestrator ${network.main.agentId} was deregistered and another one now serves this network; this one stopped`);
    }
  },
};

/** Resolves with the name of the first SIGINT or SIGTERM. */
export function stopSignal(): Promise<'SIGINT' | 'SIGTERM'> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}
