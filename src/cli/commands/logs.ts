import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { sleep } from '../../../lib/clock.js';
import type { Redis } from '../../../lib/redis/connection.js';
import type { Keys } from '../../../lib/redis/keys.js';
import { readResultStatus, taskLogLength } from '../../../lib/redis/result-fields.js';
import type { LogEntry } from '../../../lib/redis/task-store.js';
import { readLogStream, readTaskLogs, tailLogStream } from '../../../lib/redis/task-store.js';
import { isTerminal } from '../../../lib/protocol/result.js';
import type { CliContext, GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, colourFor } from '../cli-context.js';
import { ContainerLogs } from '../container-logs.js';
import type { LineFilterOptions, LogLine } from '../log-lines.js';
import { formatLine, fromLogEntry, groupBySource, jsonLine, lineFilter, mergeByTime } from '../log-lines.js';

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

/** The task log lines in Redis: the network-wide stream, or one task's list. */
interface RedisLogs {
  recent(count: number): Promise<LogLine[]>;
  /** Resolves when `signal` aborts, or (one task) when the task has ended and its lines are read. */
  follow(signal: AbortSignal, onLine: (line: LogLine) => void): Promise<void>;
}

function redisLogs(redis: Redis, keys: Keys, taskId: string | undefined): RedisLogs {
  if (taskId) {
    let seen = 0;
    return {
      async recent(count) {
        seen = Math.max(0, (await taskLogLength(redis, keys, taskId)) - Math.max(0, count));
        const lines = await readTaskLogs(redis, keys, taskId, seen);
        seen += lines.length;
        return lines.map((line) => fromLogEntry({ taskId, agentId: '', domain: '', line }));
      },
      async follow(signal, onLine) {
        while (!signal.aborted) {
          const lines = await readTaskLogs(redis, keys, taskId, seen);
          seen += lines.length;
          for (const line of lines) onLine(fromLogEntry({ taskId, agentId: '', domain: '', line }));
          if (lines.length === 0 && isTerminal(await readResultStatus(redis, keys, taskId))) return;
          await sleep(250, signal);
        }
      },
    };
  }
  // '0': the stream was empty, so everything added from now on is new.
  let last = '0';
  return {
    async recent(count) {
      // At least one entry, to know where following starts even with -n 0.
      const entries = await tailLogStream(redis, keys, Math.max(1, count));
      last = entries.at(-1)?.id ?? last;
      return (count > 0 ? entries.slice(-count) : []).map(fromLogEntry);
    },
    async follow(signal, onLine) {
      while (!signal.aborted) {
        let entries;
        try {
          entries = await readLogStream(redis, keys, last, 1_000);
        } catch {
          // Redis is away: the connection reconnects by itself; go on from the last line seen.
          await sleep(500, signal);
          continue;
        }
        for (const entry of entries) {
          onLine(fromLogEntry(entry));
          last = entry.id ?? last;
        }
      }
    },
  };
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
  command: 'logs',
  describe: "Show the network's task log lines and its containers' output, merged in time order",
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('task', { alias: 't', type: 'string', describe: 'Only this task (container lines that mention it or its sub-tasks)' })
    .option('follow', { alias: 'f', type: 'boolean', default: true, describe: 'Keep following new lines (--no-follow to stop after the recent ones)' })
    .option('grep', { alias: 'g', type: 'string', describe: 'Only lines matching this pattern (case-insensitive)' })
    .option('lines', { alias: 'n', type: 'number', default: 100, describe: 'Recent lines to show first, per source (Redis, and each container)' })
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
    const keep = lineFilter(argv);
    const colour = Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'];
    const print = (line: LogLine): void => {
      if (!keep(line)) return;
      process.stdout.write(`${ctx.json ? jsonLine(line) : formatLine(line, { colour, showTask: !argv.task, paintAgent: colourFor })}\n`);
    };
    const connection = argv.source === 'docker' ? undefined : await cliRedis(ctx);
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // A blocked stream read ends at once when the connection closes.
    stop.signal.addEventListener('abort', () => connection?.redis.disconnect(), { once: true });
    const live = reorderBuffer(print);
    try {
      const fromRedis = connection && redisLogs(connection.redis, connection.keys, argv.task);
      const docker = await containerLogs(ctx, argv);
      const first = await Promise.all([fromRedis?.recent(argv.lines) ?? [], docker?.recent(argv.lines) ?? []]);
      mergeByTime([first[0], ...first[1]]).forEach(print);
      if (!argv.follow) return;
      await Promise.all([
        // One task: following ends when the task has ended.
        fromRedis?.follow(stop.signal, live.push).then(() => stop.abort()),
        docker?.follow({ tail: argv.lines, signal: stop.signal, onLine: live.push }),
      ]).catch((error: unknown) => {
        if (!stop.signal.aborted) throw error;
      });
      live.flush();
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stop.abort();
      live.flush();
      connection?.redis.disconnect();
    }
  },
};
