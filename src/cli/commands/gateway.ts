import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { GatewayTokens } from '../../../lib/redis/gateway-tokens.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, printJson } from '../cli-context.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface GatewayArgs extends GlobalArgs {
  revoke?: string;
}

/**
 * `dan gateway`: the model gateway's live tokens (which agent holds one, since when), never the tokens
 * themselves; `--revoke <agent>` ends an agent's token at once, for a token thought leaked.
 */
export const gatewayCommand: CommandModule<GlobalArgs, GatewayArgs> = {
  ...COMMAND_HEADINGS.gateway,
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.option('revoke', { type: 'string', describe: "Revoke every token of this agent id: its model calls get 401 from now on" }) as Argv<GatewayArgs>,
  handler: async (argv: ArgumentsCamelCase<GatewayArgs>) => {
    const ctx = cliContext(argv);
    const { redis, keys } = await cliRedis(ctx);
    try {
      const tokens = new GatewayTokens(redis, keys);
      if (argv.revoke !== undefined) {
        const revoked = await tokens.revokeAgent(argv.revoke);
        if (ctx.json) printJson({ agent_id: argv.revoke, revoked });
        else process.stdout.write(revoked > 0 ? `revoked ${revoked} token(s) of ${argv.revoke}\n` : `${argv.revoke} holds no live token (see dan gateway)\n`);
        return;
      }
      const live = await tokens.list();
      if (ctx.json) {
        printJson(live.map((t) => ({ id: t.id, agent_id: t.agentId, ...(t.domains ? { group_domains: t.domains } : {}), issued_at: new Date(t.issuedAt).toISOString() })));
        return;
      }
      if (live.length === 0) {
        process.stdout.write("no live gateway tokens (each domain agent main starts gets one; start the network with 'dan up')\n");
        return;
      }
      process.stdout.write(`${'TOKEN'.padEnd(14)} ${'AGENT'.padEnd(34)} ISSUED\n`);
      for (const t of live) process.stdout.write(`${t.id.padEnd(14)} ${t.agentId.padEnd(34)} ${new Date(t.issuedAt).toISOString()}\n`);
    } finally {
      redis.disconnect();
    }
  },
};
