import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { DanError, ExitCode } from '../../../lib/errors.js';
import { isTerminal } from '../../../lib/protocol/result.js';
import { getResult, readTaskLogs } from '../../../lib/redis/task-store.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, dim, printJson, statusColour } from '../cli-context.js';
import { resolveTaskId } from '../redis-logs.js';
import { graphLines, workflowGraph } from '../../operations/workflows.js';
import { childStatuses, describeResult, describeStartFailure, followTask, startFailuresFor } from '../task-view.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface StatusArgs extends GlobalArgs {
  id: string;
  wait: boolean;
  timeout: number;
  logs: number;
}

export const statusCommand: CommandModule<GlobalArgs, StatusArgs> = {
  ...COMMAND_HEADINGS.status,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('id', { type: 'string', demandOption: true, describe: 'Task id' })
    .option('wait', { alias: 'w', type: 'boolean', default: false, describe: 'Wait until the task ends' })
    .option('timeout', { type: 'number', default: 600, describe: 'Seconds to wait at most with --wait' })
    .option('logs', { alias: 'n', type: 'number', default: 5, describe: 'Log lines to show' }) as Argv<StatusArgs>,
  handler: async (argv: ArgumentsCamelCase<StatusArgs>) => {
    const ctx = cliContext(argv);
    const { redis, keys } = await cliRedis(ctx);
    try {
      // A prefix (the 8 characters `dan logs` prints) names its one task; a whole id is taken as typed.
      const id = (await getResult(redis, keys, argv.id)) ? argv.id : await resolveTaskId(redis, keys, argv.id).catch((error: unknown) => {
        // Ambiguous is said as such; unknown keeps the message below.
        if (error instanceof DanError && error.code === 'not_found') return argv.id;
        throw error;
      });
      let result = await getResult(redis, keys, id);
      if (!result) throw new DanError('not_found', `no task '${argv.id}' (it never existed, or its result expired after the retention period)`, { exitCode: ExitCode.failed });
      if (argv.wait && !isTerminal(result.status)) result = await followTask(redis, keys, id, { timeoutMs: argv.timeout * 1000 }) ?? result;
      const logs = await readTaskLogs(redis, keys, id, -Math.max(0, argv.logs));
      const children = await childStatuses(redis, keys, id, result);
      const startFailures = await startFailuresFor(redis, keys, id, result);
      const workflow = result.domain === 'workflow' ? await workflowGraph(redis, keys, id) : undefined;
      if (ctx.json) {
        printJson({ task_id: result.taskId, status: result.status, output: result.output ?? null, error: result.error ?? null, started_at: result.startedAt ?? null, completed_at: result.completedAt ?? null, domain: result.domain ?? null, attempts: result.attempts ?? null, retry_at: result.raw['retry_at'] ?? null, children, logs, start_failures: startFailures, ...(workflow ? { steps: workflow } : {}) });
      } else {
        process.stdout.write(`${describeResult(result)}\n`);
        // A finished parent lists its sub-tasks in its output; a running one only has its plan.
        if (workflow) for (const line of graphLines(workflow)) process.stdout.write(`  ${line}\n`);
        else if (!isTerminal(result.status)) {
          for (const c of children) process.stdout.write(`  sub-task ${c.task_id}: ${statusColour(c.status)}${c.error ? ` - ${c.error}` : ''}\n`);
        }
        for (const failure of startFailures) process.stdout.write(`${describeStartFailure(failure)}\n`);
        if (argv.logs > 0) for (const line of logs) process.stdout.write(`${dim('  | ')}${line}\n`);
      }
      if (result.status === 'failed' || (argv.wait && !isTerminal(result.status))) process.exitCode = ExitCode.failed;
    } finally {
      redis.disconnect();
    }
  },
};
