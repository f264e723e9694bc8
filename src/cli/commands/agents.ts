import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, colourFor, dim, printJson } from '../cli-context.js';
import { networkOverview } from '../../operations/network-overview.js';
import { describeStartFailure } from '../task-view.js';
import { describeModelPause } from '../../main/spawn-policy.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

export const agentsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  ...COMMAND_HEADINGS.agents,
  builder: (yargs: Argv<GlobalArgs>) => yargs,
  handler: async (argv: ArgumentsCamelCase<GlobalArgs>) => {
    const ctx = cliContext(argv);
    const { redis, keys } = await cliRedis(ctx);
    try {
      const overview = await networkOverview(redis, keys, ctx.config);
      const { agents, queues, start_failures: startFailures, scaling } = overview;
      if (ctx.json) {
        printJson(overview);
        return;
      }
      if (agents.length === 0) process.stdout.write("no agents registered (start the network with 'dan up')\n");
      else {
        process.stdout.write(`${'AGENT'.padEnd(34)} ${'ROLE'.padEnd(7)} ${'DOMAIN'.padEnd(10)} ${'STATUS'.padEnd(8)} LAST HEARTBEAT\n`);
        for (const a of agents) {
          const alive = a.alive ? '' : dim(' (heartbeat lapsed)');
          const unexplained = a.unexplained ? ' (unexplained: the main orchestrator did not start it, and does not count it)' : '';
          process.stdout.write(`${colourFor(a.agent_id, a.agent_id.padEnd(34))} ${a.role.padEnd(7)} ${a.domain_type.padEnd(10)} ${a.status.padEnd(8)} ${a.last_heartbeat}${alive}${unexplained}\n`);
        }
      }
      // LIVE and DESIRED as the main orchestrator last published them; '-' where it published none (main, or no main running).
      // AFTER: tasks waiting on their dependencies, in no queue: not in PENDING, and not a reason to start an agent.
      process.stdout.write(`\n${'QUEUE'.padEnd(12)} ${'PENDING'.padStart(8)} ${'RUNNING'.padStart(8)} ${'DEAD'.padStart(6)} ${'AFTER'.padStart(6)} ${'LIVE'.padStart(5)} ${'DESIRED'.padStart(8)}\n`);
      for (const q of queues) {
        const s = scaling.find((row) => row.domain === q.domain);
        const waiting = s?.waiting ? `  ${s.waiting}` : '';
        process.stdout.write(`${q.domain.padEnd(12)} ${String(q.pending).padStart(8)} ${String(q.running).padStart(8)} ${String(q.dead).padStart(6)} ${String(q.waiting_on_dependencies).padStart(6)} ${String(s?.live ?? '-').padStart(5)} ${String(s?.desired ?? '-').padStart(8)}${waiting}\n`);
      }
      // A 429 paused a model for every agent: why calls wait and no new domain starts.
      for (const p of overview.model_pauses) process.stdout.write(`\n${describeModelPause(p)}\n`);
      // Domains whose last agent did not come up: why their queue does not move.
      if (startFailures.length > 0) process.stdout.write(`\n${startFailures.map((failure) => describeStartFailure(failure)).join('\n')}\n`);
    } finally {
      redis.disconnect();
    }
  },
};
