import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { DanError, ExitCode, InvalidInputError } from '../../../lib/errors.js';
import { getResult } from '../../../lib/redis/task-store.js';
import { taskDiffs } from '../../operations/task-diff.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, printJson } from '../cli-context.js';
import { resolveTaskId } from '../redis-logs.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface DiffArgs extends GlobalArgs {
  id: string;
  repo?: string;
  stat: boolean;
}

export const diffCommand: CommandModule<GlobalArgs, DiffArgs> = {
  ...COMMAND_HEADINGS.diff,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('id', { type: 'string', demandOption: true, describe: 'Task id (or a unique prefix)' })
    .option('repo', { type: 'string', describe: 'The repository, when this machine sees it at another path than the agent did (a container)' })
    .option('stat', { type: 'boolean', default: false, describe: 'Only the files changed and how much' })
    .epilog('Exit codes: 0 the diff was printed, 1 the task has no branch (not ended, or its workspace was not a git repository), 2 the repository is not here.') as Argv<DiffArgs>,
  handler: async (argv: ArgumentsCamelCase<DiffArgs>) => {
    const ctx = cliContext(argv);
    const { redis, keys } = await cliRedis(ctx);
    try {
      const id = (await getResult(redis, keys, argv.id)) ? argv.id : await resolveTaskId(redis, keys, argv.id).catch((error: unknown) => {
        if (error instanceof DanError && error.code === 'not_found') return argv.id;
        throw error;
      });
      const result = await getResult(redis, keys, id);
      if (!result) throw new DanError('not_found', `no task '${argv.id}' (it never existed, or its result expired after the retention period)`, { exitCode: ExitCode.failed });
      const diffs = await taskDiffs(redis, keys, result, {
        stat: argv.stat, ...(argv.repo !== undefined ? { repo: argv.repo } : {}),
        missingRepository: (repository, taskId) => new InvalidInputError(`the repository ${repository} of task ${taskId} is not on this machine: pass its path here with --repo DIR`),
      });
      if (ctx.json) printJson(diffs);
      else if (diffs.length === 1) process.stdout.write(diffs[0]!.diff);
      else for (const d of diffs) process.stdout.write(`# ${d.task_id}: ${d.branch}\n${d.diff}`);
    } finally {
      redis.disconnect();
    }
  },
};
