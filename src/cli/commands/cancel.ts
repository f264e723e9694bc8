import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ExitCode, InvalidInputError } from '../../../lib/errors.js';
import type { CancelOutcome } from '../../../lib/redis/cancel-task.js';
import { cancelTask } from '../../../lib/redis/cancel-task.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, printJson } from '../cli-context.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface CancelArgs extends GlobalArgs {
  ids: string[];
  reason?: string;
}

/** The outcome as data, for `--json`: every task the cancellation reached, children included. */
function toJson(outcome: CancelOutcome): Record<string, unknown> {
  if (outcome.kind === 'cancelled') {
    return { task_id: outcome.taskId, outcome: 'cancelled', was_running_on: outcome.owner ?? null, children: outcome.children.map(toJson) };
  }
  if (outcome.kind === 'ended') return { task_id: outcome.taskId, outcome: 'already_ended', status: outcome.status };
  return { task_id: outcome.taskId, outcome: 'not_found' };
}

function describe(outcome: CancelOutcome, indent = ''): string[] {
  if (outcome.kind === 'not_found') return [`${indent}${outcome.taskId}: no such task`];
  if (outcome.kind === 'ended') return [`${indent}${outcome.taskId}: already ${outcome.status}; nothing to cancel`];
  const where = outcome.owner ? ` (its worker on ${outcome.owner} was told to stop)` : ' (it was not running)';
  return [`${indent}${outcome.taskId}: cancelled${where}`, ...outcome.children.flatMap((c) => describe(c, `${indent}  `))];
}

export const cancelCommand: CommandModule<GlobalArgs, CancelArgs> = {
  ...COMMAND_HEADINGS.cancel,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('ids', { type: 'string', array: true, demandOption: true, describe: 'Task ids' })
    .option('reason', { type: 'string', describe: "Why, for the task's log" })
    .example('$0 cancel 6f1c2d3e-...', 'cancel a task and its sub-tasks')
    .epilog('Exit codes: 0 every task was cancelled, 1 some had already ended, 2 some do not exist, 3 Redis unreachable.') as Argv<CancelArgs>,
  handler: async (argv: ArgumentsCamelCase<CancelArgs>) => {
    const ctx = cliContext(argv);
    const ids = argv.ids.map(String).filter((id) => id.trim() !== '');
    if (ids.length === 0) throw new InvalidInputError('name at least one task id');
    const { redis, keys } = await cliRedis(ctx);
    try {
      const who = `cli@${process.env['USER'] ?? 'unknown'}`;
      const outcomes: CancelOutcome[] = [];
      for (const id of ids) {
        outcomes.push(await cancelTask(redis, keys, id, { by: who, retentionMs: ctx.config.retentionMs, ...(argv.reason ? { reason: argv.reason } : {}) }));
      }
      if (ctx.json) printJson(outcomes.map(toJson));
      else process.stdout.write(`${outcomes.flatMap((o) => describe(o)).join('\n')}\n`);
      if (outcomes.some((o) => o.kind === 'not_found')) process.exitCode = ExitCode.usage;
      else if (outcomes.some((o) => o.kind === 'ended')) process.exitCode = ExitCode.failed;
    } finally {
      redis.disconnect();
    }
  },
};
