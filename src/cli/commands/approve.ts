import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { ApprovalDecision } from '../../../lib/redis/approvals.js';
import { decideTask } from '../../operations/approvals.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, printJson } from '../cli-context.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface DecideArgs extends GlobalArgs {
  id: string;
  reason?: string;
}

async function decide(argv: ArgumentsCamelCase<DecideArgs>, decision: ApprovalDecision): Promise<void> {
  const ctx = cliContext(argv);
  const { redis, keys } = await cliRedis(ctx);
  try {
    const done = await decideTask(redis, keys, ctx.config, String(argv.id), {
      decision, by: `cli@${process.env['USER'] ?? 'unknown'}`, ...(argv.reason !== undefined ? { reason: argv.reason } : {}),
    });
    if (ctx.json) printJson(done);
    else process.stdout.write(decision === 'approve' ? `${done.id}: approved; it is queued again and runs\n` : `${done.id}: rejected; it ended failed (rejected)\n`);
  } finally {
    redis.disconnect();
  }
}

const EPILOG = 'Exit codes: 0 decided, 1 the task is not awaiting approval, 2 no such task (or bad input), 3 Redis unreachable.';

/** `dan approve ID`: lets a task awaiting approval run. */
export const approveCommand: CommandModule<GlobalArgs, DecideArgs> = {
  ...COMMAND_HEADINGS.approve,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('id', { type: 'string', demandOption: true, describe: 'Task id. dan status ID shows what approving starts: the task (domain, description, requirements, checks) and, for a task sent to main, the sub-task main planned for each domain' })
    .option('reason', { type: 'string', describe: "A note for the task's log" })
    .epilog(EPILOG) as Argv<DecideArgs>,
  handler: (argv) => decide(argv, 'approve'),
};

/** `dan reject ID --reason TEXT`: ends a task awaiting approval as failed (`rejected`). */
export const rejectCommand: CommandModule<GlobalArgs, DecideArgs> = {
  ...COMMAND_HEADINGS.reject,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('id', { type: 'string', demandOption: true, describe: 'Task id' })
    .option('reason', { type: 'string', demandOption: true, describe: "Why: becomes the task's error" })
    .epilog(EPILOG) as Argv<DecideArgs>,
  handler: (argv) => decide(argv, 'reject'),
};
