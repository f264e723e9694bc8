import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { redactUrl } from '../../../lib/errors.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext } from '../cli-context.js';
import { ensureRedis } from '../local-redis.js';

interface UpArgs extends GlobalArgs {
  startRedis: boolean;
  quiet: boolean;
  spawner?: 'process' | 'docker';
}

export const upCommand: CommandModule<GlobalArgs, UpArgs> = {
  command: 'up',
  describe: 'Run the main orchestrator here; domains start on demand as local processes or containers',
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('start-redis', { type: 'boolean', default: true, describe: 'Start a private redis-server if nothing answers at REDIS_URL on this machine' })
    .option('spawner', { type: 'string', choices: ['process', 'docker'], describe: 'How domains start: local processes, or containers on the Docker engine (default: DAN_SPAWNER, else process)' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: "Do not echo the domain agents' log lines" }) as unknown as Argv<UpArgs>,
  handler: async (argv: ArgumentsCamelCase<UpArgs>) => {
    // No base agent id: every line names the agent it is about (main or a domain).
    const ctx = cliContext(argv, 'info', {}, argv.spawner ? { DAN_SPAWNER: argv.spawner } : {});
    const redis = await ensureRedis(ctx.config.redisUrl, ctx.logger, argv.startRedis);
    // Loaded here, not at start-up: every other command would otherwise pay for the model SDK.
    const { echoAgentLine, runNetwork } = await import('../../main/run-network.js');
    const network = await runNetwork({
      config: ctx.config, logger: ctx.logger, redisUrl: redis.url,
      ...(argv.quiet ? {} : { onAgentLine: (_agentId: string, line: string) => echoAgentLine(line) }),
    });
    ctx.logger.info({ redis: redactUrl(redis.url), agentId: network.main.agentId }, "network up: send work with 'dan send main \"...\"'; Ctrl-C stops it");
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        ctx.logger.info({ signal }, 'shutting down: finishing or handing back work in flight');
        resolve();
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
    });
    await network.stop();
    await redis.stop();
  },
};
