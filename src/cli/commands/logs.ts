import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { sleep } from '../../../lib/clock.js';
import { InvalidInputError } from '../../../lib/errors.js';
import type { LogEntry } from '../../../lib/redis/task-store.js';
import { readLogStream, readTaskLogs, tailLogStream } from '../../../lib/redis/task-store.js';
import { isTerminal } from '../../../lib/protocol/result.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, colourFor } from '../cli-context.js';

interface LogsArgs extends GlobalArgs {
  task?: string;
  follow: boolean;
  grep?: string;
  lines: number;
  main: boolean;
  domains: boolean;
  container?: string;
}

/** Which log entries a `dan logs` call shows. Pure, for tests. */
export function logFilter(args: { main?: boolean; domains?: boolean; container?: string; grep?: string }): (entry: LogEntry) => boolean {
  let pattern: RegExp | undefined;
  if (args.grep) {
    try {
      pattern = new RegExp(args.grep, 'i');
    } catch (error) {
      throw new InvalidInputError(`--grep is not a valid pattern: ${(error as Error).message}`);
    }
  }
  return (entry) => {
    if (args.main && !args.domains && entry.domain !== 'main') return false;
    if (args.domains && !args.main && entry.domain === 'main') return false;
    if (args.container && !(entry.agentId.startsWith(args.container) || entry.domain === args.container)) return false;
    if (pattern && !pattern.test(entry.line) && !pattern.test(entry.taskId)) return false;
    return true;
  };
}

export const logsCommand: CommandModule<GlobalArgs, LogsArgs> = {
  command: 'logs',
  describe: "Show the network's task log lines, or one task's",
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('task', { alias: 't', type: 'string', describe: 'Only this task' })
    .option('follow', { alias: 'f', type: 'boolean', default: true, describe: 'Keep following new lines (--no-follow to stop after the recent ones)' })
    .option('grep', { alias: 'g', type: 'string', describe: 'Only lines matching this pattern (case-insensitive)' })
    .option('lines', { alias: 'n', type: 'number', default: 100, describe: 'Recent lines to show first' })
    .option('main', { alias: 'm', type: 'boolean', default: false, describe: "Only the main orchestrator's lines" })
    .option('domains', { alias: 'd', type: 'boolean', default: false, describe: "Only the domain agents' lines" })
    .option('container', { alias: 'c', type: 'string', describe: 'Only this agent (id or prefix) or domain' }) as Argv<LogsArgs>,
  handler: async (argv: ArgumentsCamelCase<LogsArgs>) => {
    const ctx = cliContext(argv);
    const keep = logFilter(argv);
    const { redis, keys } = await cliRedis(ctx);
    const print = (entry: LogEntry) => {
      if (!keep(entry)) return;
      if (ctx.json) process.stdout.write(`${JSON.stringify({ task_id: entry.taskId, agent_id: entry.agentId, domain: entry.domain, line: entry.line })}\n`);
      else process.stdout.write(`${colourFor(entry.agentId || entry.taskId, (entry.agentId || 'task').padEnd(18))} ${argv.task ? '' : `${entry.taskId.slice(0, 8)} `}${entry.line}\n`);
    };
    let stopped = false;
    process.once('SIGINT', () => { stopped = true; });
    try {
      if (argv.task) {
        const taskId = argv.task;
        const asEntry = (line: string): LogEntry => ({ taskId, agentId: /^\[[^\]]+\] ([^:]+):/.exec(line)?.[1] ?? '', domain: '', line });
        let seen = Math.max(0, (await redis.llen(keys.logs(taskId))) - argv.lines);
        while (!stopped) {
          const lines = await readTaskLogs(redis, keys, taskId, seen);
          seen += lines.length;
          lines.map(asEntry).forEach(print);
          if (!argv.follow) break;
          if (isTerminal((await redis.hget(keys.result(taskId), 'status')) ?? undefined) && lines.length === 0) break;
          await sleep(250);
        }
        return;
      }
      const recent = await tailLogStream(redis, keys, argv.lines);
      recent.forEach(print);
      let last = recent.at(-1)?.id ?? '$';
      while (argv.follow && !stopped) {
        const entries = await readLogStream(redis, keys, last, 1_000);
        for (const entry of entries) {
          print(entry);
          last = entry.id ?? last;
        }
      }
    } finally {
      redis.disconnect();
    }
  },
};
