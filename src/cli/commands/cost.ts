import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, printJson } from '../cli-context.js';
import { COST_GROUPS, costReport, parseSince, type CostGroup } from '../../operations/cost-report.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface CostArgs extends GlobalArgs {
  since?: string;
  by: CostGroup;
}

/** `dan cost`: what model calls cost, grouped by domain, client, model or day, from the gateway's day counters. */
export const costCommand: CommandModule<GlobalArgs, CostArgs> = {
  ...COMMAND_HEADINGS.cost,
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .option('since', { type: 'string', describe: 'A UTC day (2026-12-01) or a span back from now (7d, 24h); default: today' })
      .option('by', { choices: COST_GROUPS, default: 'domain' as CostGroup, describe: 'What each line is' })
      .example('$0 cost --since 7d --by model', "the week's spending per model")
      .example('$0 cost --by client --json', "today's per client, as JSON") as Argv<CostArgs>,
  handler: async (argv: ArgumentsCamelCase<CostArgs>) => {
    const ctx = cliContext(argv);
    // Checked before connecting: a typing slip is told at once, with the forms.
    parseSince(argv.since, Date.now());
    const { redis, keys } = await cliRedis(ctx);
    try {
      const report = await costReport(redis, keys, { since: argv.since, by: argv.by });
      if (ctx.json) {
        printJson(report);
        return;
      }
      const width = Math.max(8, ...report.lines.map((l) => l.key.length));
      process.stdout.write(`model calls from ${report.since} to ${report.until} (UTC), by ${report.by}\n`);
      process.stdout.write(`${argv.by.toUpperCase().padEnd(width)} ${'USD'.padStart(12)} ${'CALLS'.padStart(8)} ${'UNPRICED'.padStart(9)}\n`);
      for (const l of report.lines) process.stdout.write(`${l.key.padEnd(width)} ${l.usd.toFixed(6).padStart(12)} ${String(l.calls).padStart(8)} ${String(l.unpriced_calls).padStart(9)}\n`);
      process.stdout.write(`${'total'.padEnd(width)} ${report.total.usd.toFixed(6).padStart(12)} ${String(report.total.calls).padStart(8)} ${String(report.total.unpriced_calls).padStart(9)}\n`);
      if (report.total.unpriced_calls > 0) process.stdout.write('unpriced calls went to models the price table does not list: their cost is unknown and not in USD (add them to DAN_MODEL_PRICES)\n');
    } finally {
      redis.disconnect();
    }
  },
};
