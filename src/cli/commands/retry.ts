import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { DanError, ExitCode, InvalidInputError } from '../../../lib/errors.js';
import { getResult } from '../../../lib/redis/task-store.js';
import type { RetryOutcome } from '../../operations/retry-job.js';
import { retryFailedJob } from '../../operations/retry-job.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, printJson } from '../cli-context.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface RetryArgs extends GlobalArgs {
  ids: string[];
  to?: string;
}

type Attempt = { taskId: string; outcome: 'retried'; done: RetryOutcome } | { taskId: string; outcome: 'refused'; code: string; reason: string } | { taskId: string; outcome: 'not_found' };

function toJson(a: Attempt): Record<string, unknown> {
  if (a.outcome === 'retried') return { task_id: a.taskId, outcome: 'retried', id: a.done.id, domain: a.done.domain, dead_letter: a.done.deadLetterRef };
  if (a.outcome === 'refused') return { task_id: a.taskId, outcome: 'refused', code: a.code, reason: a.reason };
  return { task_id: a.taskId, outcome: 'not_found' };
}

function describe(a: Attempt): string {
  if (a.outcome === 'not_found') return `${a.taskId}: no such task (or its result expired)`;
  if (a.outcome === 'refused') return `${a.taskId}: not retried (${a.code}): ${a.reason}`;
  const from = a.done.deadLetterRef === null ? '' : ` from dead letter ${a.done.deadLetterRef}`;
  return a.done.id === a.taskId ? `${a.taskId}: queued again on ${a.done.domain}${from}` : `${a.taskId}: retried as ${a.done.id} on ${a.done.domain}`;
}

export const retryCommand: CommandModule<GlobalArgs, RetryArgs> = {
  ...COMMAND_HEADINGS.retry,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('ids', { type: 'string', array: true, demandOption: true, describe: 'Ids of failed tasks (not sub-tasks: retry their task)' })
    .option('to', { type: 'string', describe: 'Send it to this domain instead of its own' })
    .example('$0 retry 6f1c2d3e-...', 'run a failed task again; prints the id of the task that now runs')
    .example('$0 tasks --status failed --json | jq -r ".[].id" | xargs $0 retry', 'retry every failed task that is still kept')
    .epilog('A task is retried once: retry the new task once it has failed. POST /jobs/{id}/retry does the same over HTTP.\nExit codes: 0 every task was retried, 1 some were refused (not failed, retried already, input not kept), 2 some do not exist, 3 Redis unreachable.') as Argv<RetryArgs>,
  handler: async (argv: ArgumentsCamelCase<RetryArgs>) => {
    const ctx = cliContext(argv);
    const ids = argv.ids.map(String).filter((id) => id.trim() !== '');
    if (ids.length === 0) throw new InvalidInputError('name at least one task id');
    const { redis, keys } = await cliRedis(ctx);
    try {
      const by = `cli@${process.env['USER'] ?? 'unknown'}`;
      const attempts: Attempt[] = [];
      for (const taskId of ids) {
        const result = await getResult(redis, keys, taskId);
        if (result === undefined) {
          attempts.push({ taskId, outcome: 'not_found' });
          continue;
        }
        try {
          const done = await retryFailedJob(redis, keys, ctx.config, result, { by, ...(argv.to ? { to: argv.to } : {}) });
          attempts.push({ taskId, outcome: 'retried', done });
        } catch (error) {
          if (!(error instanceof DanError) || error.code === 'redis_unreachable') throw error;
          attempts.push({ taskId, outcome: 'refused', code: error.code, reason: error.message });
        }
      }
      if (ctx.json) printJson(attempts.map(toJson));
      else process.stdout.write(`${attempts.map(describe).join('\n')}\n`);
      if (attempts.some((a) => a.outcome === 'not_found')) process.exitCode = ExitCode.usage;
      else if (attempts.some((a) => a.outcome === 'refused')) process.exitCode = ExitCode.failed;
    } finally {
      redis.disconnect();
    }
  },
};
