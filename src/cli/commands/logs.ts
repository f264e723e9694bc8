import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { InvalidInputError } from '../../../lib/errors.js';
import { readResultStatus } from '../../../lib/redis/result-fields.js';
import type { LogEntry } from '../../../lib/redis/task-store.js';
import type { CliContext, GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, colourFor } from '../cli-context.js';
import { ContainerLogs } from '../container-logs.js';
import type { LineFilterOptions, LogLine } from '../log-lines.js';
import { formatLine, fromLogEntry, groupBySource, jsonLine, lineFilter, mergeByTime } from '../log-lines.js';
import { redisLogs, resolveTaskId } from '../redis-logs.js';
import { visibleText } from '../visible-text.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

const SOURCES = ['all', 'redis', 'docker'] as const;

interface LogsArgs extends GlobalArgs {
  task?: string;
  follow: boolean;
  grep?: string;
  lines: number;
  main: boolean;
  domains: boolean;
  container?: string;
  source: (typeof SOURCES)[number];
  verbose: boolean;
}

/** Which Redis log entries a `dan logs` call shows. Pure, for tests. */
export function logFilter(args: LineFilterOptions): (entry: LogEntry) => boolean {
  const keep = lineFilter(args);
  return (entry) => keep(fromLogEntry(entry));
}

/** The containers' output, or undefined when no engine answers and the Redis lines are enough. */
async function containerLogs(ctx: CliContext, argv: LogsArgs): Promise<ContainerLogs | undefined> {
  if (argv.source === 'redis') return undefined;
  try {
    return await ContainerLogs.connect(ctx.logger, ctx.config.docker.networkId);
  } catch (error) {
    if (argv.source === 'docker') throw error;
    ctx.logger.debug({ err: (error as Error).message }, 'no Docker engine: showing the Redis lines only');
    if (argv.verbose) process.stderr.write(`dan logs: ${(error as Error).message}\ndan logs: showing the Redis lines only\n`);
    return undefined;
  }
}

/**
 * Holds live lines for a moment and prints them merged by time, so lines that arrive close together
 * from different sources come out in the order they were written.
 */
function reorderBuffer(print: (line: LogLine) => void, holdMs = 200): { push: (line: LogLine) => void; flush: () => void } {
  let pending: LogLine[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    const lines = pending;
    pending = [];
    mergeByTime(groupBySource(lines)).forEach(print);
  };
  return {
    push: (line) => {
      pending.push(line);
      timer ??= setTimeout(flush, holdMs);
    },
    flush,
  };
}

export const logsCommand: CommandModule<GlobalArgs, LogsArgs> = {
  ...COMMAND_HEADINGS.logs,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('task', { alias: 't', type: 'string', describe: 'Only this task (id or unique prefix) and its sub-tasks; ends with its status' })
    .option('follow', { alias: 'f', type: 'boolean', default: true, describe: 'Keep following new lines (--no-follow to stop after the recent ones)' })
    .option('grep', { alias: 'g', type: 'string', describe: 'Only lines matching this pattern (case-insensitive)' })
    .option('lines', { alias: 'n', type: 'number', default: 100, describe: 'Recent lines to show first, per source (Redis, and each container), counted after the other filters' })
    .option('main', { alias: 'm', type: 'boolean', default: false, describe: "Only the main orchestrator's lines" })
    .option('domains', { alias: 'd', type: 'boolean', default: false, describe: "Only the domain agents' lines" })
    .option('container', { alias: 'c', type: 'string', describe: 'Only this agent (id or prefix), domain, or container name' })
    .option('source', { choices: SOURCES, default: 'all' as const, describe: 'Where lines come from: task logs in Redis, container output through Docker, or both (Docker only when an engine answers)' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'Say on stderr when no Docker engine answers' })
    .epilogue([
      'When a Docker engine answers, the output of the network\'s containers (labelled',
      'distributed-agent-network.managed=true, and the main orchestrator\'s) is merged in; containers that',
      'start while following are picked up. --json prints one object per line:',
      '{source, time, agent_id, domain, task_id, line}.',
    ].join('\n')) as Argv<LogsArgs>,
  handler: async (argv: ArgumentsCamelCase<LogsArgs>) => {
    const ctx = cliContext(argv);
    if (!Number.isInteger(argv.lines) || argv.lines < 0) throw new InvalidInputError(`-n/--lines must be a whole number of lines (0 or more), got '${String(argv.lines)}'`);
    lineFilter(argv); // a --grep that is not a pattern fails here, before anything connects
    const colour = Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'];
    const print = (line: LogLine): void => {
      if (!keep(line)) return;
      process.stdout.write(`${ctx.json ? jsonLine(line) : formatLine(line, { colour, showTask: !argv.task, paintAgent: colourFor })}\n`);
    };
    const connection = argv.source === 'docker' ? undefined : await cliRedis(ctx);
    // The whole id from here on, so container lines that name it (or its sub-tasks) are found too.
    const taskId = connection && argv.task !== undefined ? await resolveTaskId(connection.redis, connection.keys, argv.task).catch((error: unknown) => {
      connection.redis.disconnect();
      throw error;
    }) : argv.task;
    const keep = lineFilter({ ...argv, ...(taskId !== undefined ? { task: taskId } : {}) });
    const filtered = Boolean(argv.main || argv.domains || argv.grep || argv.container || taskId);
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // A blocked stream read ends at once when the connection closes.
    stop.signal.addEventListener('abort', () => connection?.redis.disconnect(), { once: true });
    const live = reorderBuffer(print);
    /** With --task, the last line says where the task stands, so a follow that ends says why. */
    const readStatus = async (): Promise<string | undefined> =>
      connection && taskId !== undefined ? readResultStatus(connection.redis, connection.keys, taskId) : undefined;
    let ended: string | undefined;
    const printStatus = (status: string | undefined): void => {
      if (status === undefined || taskId === undefined) return;
      process.stdout.write(`${ctx.json ? JSON.stringify({ source: 'status', task_id: taskId, status, line: `task ${taskId}: ${status}` }) : `task ${visibleText(taskId)}: ${visibleText(status)}`}\n`);
    };
    try {
      const fromRedis = connection && redisLogs(connection.redis, connection.keys, taskId);
      const docker = await containerLogs(ctx, argv);
      const first = await Promise.all([fromRedis?.recent(argv.lines, keep) ?? [], docker?.recent(argv.lines, filtered ? keep : undefined) ?? []]);
      mergeByTime([first[0], ...first[1]]).forEach(print);
      if (!argv.follow) {
        printStatus(await readStatus());
        return;
      }
      await Promise.all([
        // One task: following ends when the task has ended.
        // Read before the abort closes the connection; a Ctrl-C shows no status.
        fromRedis?.follow(stop.signal, live.push).then(async () => { ended = await readStatus(); stop.abort(); }),
        docker?.follow({ tail: argv.lines, signal: stop.signal, onLine: live.push }),
      ]).catch((error: unknown) => {
        if (!stop.signal.aborted) throw error;
      });
      live.flush();
      printStatus(ended);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stop.abort();
      live.flush();
      connection?.redis.disconnect();
    }
  },
};
