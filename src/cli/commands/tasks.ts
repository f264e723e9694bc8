import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { InvalidInputError } from '../../../lib/errors.js';
import { DEFAULT_CLIENT_ID, normalizeClientId } from '../../../lib/protocol/client-id.js';
import type { ListedTask } from '../../operations/list-tasks.js';
import { listTasks, MAX_LIMIT, taskFilter } from '../../operations/list-tasks.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, dim, printJson } from '../cli-context.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface TasksArgs extends GlobalArgs {
  status?: string;
  domain?: string;
  parent?: string;
  since?: string;
  until?: string;
  grep?: string;
  client: string;
  limit: number;
  cursor?: string;
}

/** One line of a description for the table: whitespace collapsed, cut at `width`. */
function shortText(text: string | null, width: number): string {
  if (text === null || text.trim() === '') return dim('(no description)');
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

function line(t: ListedTask): string {
  const why = t.status === 'failed' && t.failureCode ? ` (${t.failureCode})` : '';
  return `${t.id.padEnd(36)} ${`${t.status}${why}`.padEnd(22)} ${(t.domain ?? '-').padEnd(12)} ${t.sentAt}  ${shortText(t.description, 60)}`;
}

function taskJson(t: ListedTask): Record<string, unknown> {
  return {
    id: t.id, status: t.status, client: t.client, domain: t.domain, parent: t.parent, description: t.description, sent_at: t.sentAt,
    started_at: t.startedAt, completed_at: t.completedAt, error: t.error, failure_code: t.failureCode, attempts: t.attempts,
  };
}

/** `dan tasks`: a client's tasks, newest first, filtered as `GET /jobs` filters them (the same code). */
export const tasksCommand: CommandModule<GlobalArgs, TasksArgs> = {
  ...COMMAND_HEADINGS.tasks,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('status', { alias: 's', type: 'string', describe: 'waiting, pending, in_progress, completed, failed (or QUEUED, RUNNING, SUCCEEDED, FAILED); several with commas' })
    .option('domain', { alias: 'd', type: 'string', describe: 'Only tasks of this domain' })
    .option('parent', { type: 'string', describe: 'Only the sub-tasks of this task' })
    .option('since', { type: 'string', describe: 'Only tasks sent at or after this ISO time (2026-12-07T10:00:00Z, 2026-12-07)' })
    .option('until', { type: 'string', describe: 'Only tasks sent at or before this ISO time' })
    .option('grep', { alias: 'q', type: 'string', describe: 'Only tasks whose description holds this text (case ignored)' })
    .option('client', { type: 'string', default: DEFAULT_CLIENT_ID, describe: "Whose tasks: a client of the HTTP API's keys ('default': sent without one, as dan send does)" })
    .option('limit', { alias: 'n', type: 'number', default: 20, describe: `Show at most N tasks (1 to ${MAX_LIMIT})` })
    .option('cursor', { type: 'string', describe: 'Go on from where an earlier listing stopped (its next_cursor)' })
    .example('$0 tasks --status failed --since 2026-12-07', "today's failed tasks")
    .example('$0 tasks -q migration --json', 'tasks about a migration, as JSON')
    .epilog("Tasks are listed while their results are kept (DAN_RETENTION_MS after they end). A listing looks at 1000 tasks at most; when it stops there, it prints how to go on.") as Argv<TasksArgs>,
  handler: async (argv: ArgumentsCamelCase<TasksArgs>) => {
    const ctx = cliContext(argv);
    if (!Number.isInteger(argv.limit) || argv.limit < 1 || argv.limit > MAX_LIMIT) throw new InvalidInputError(`--limit takes a whole number from 1 to ${MAX_LIMIT}; got ${argv.limit}`);
    const filter = taskFilter({ status: argv.status, domain: argv.domain, parent: argv.parent, since: argv.since, until: argv.until, text: argv.grep }, { since: '--since', until: '--until' });
    const client = normalizeClientId(argv.client);
    const { redis, keys } = await cliRedis(ctx);
    try {
      const page = await listTasks(redis, keys, client, filter, { limit: argv.limit, ...(argv.cursor !== undefined ? { cursor: argv.cursor } : {}) });
      if (ctx.json) return printJson({ tasks: page.tasks.map(taskJson), next_cursor: page.nextCursor ?? null });
      if (page.tasks.length === 0) process.stdout.write(page.nextCursor === undefined ? 'no tasks match\n' : 'no tasks match among the 1000 looked at\n');
      for (const t of page.tasks) process.stdout.write(`${line(t)}\n`);
      if (page.nextCursor !== undefined) process.stdout.write(dim(`more: dan tasks ... --cursor ${page.nextCursor}\n`));
    } finally {
      redis.disconnect();
    }
  },
};
