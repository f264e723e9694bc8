import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { sleep } from '../../../lib/clock.js';
import { DanError, ExitCode, InvalidInputError } from '../../../lib/errors.js';
import { FARM_RUNTIMES, programExists } from '../../../lib/farm/farm-request.js';
import type { FarmRuntime } from '../../../lib/farm/farm-request.js';
import { FarmStore, recentFarmIds } from '../../../lib/farm/farm-store.js';
import { parseBudgetUsd } from '../../../lib/protocol/budget.js';
import { isTerminal } from '../../../lib/protocol/result.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, colourFor, printJson, statusColour } from '../cli-context.js';
import { describeResult, followTask } from '../task-view.js';
import { DEFAULT_FARM_TIMEOUT_SECONDS, farmStatus, farmTask, startFarm, stopFarm } from '../../operations/farm-access.js';
import { COMMAND_HEADINGS } from '../command-headings.js';
import { readOnlySessionArgs } from '../tmux-session.js';

interface FarmArgs extends GlobalArgs {
  action: string;
  id?: string;
  agent?: string;
  description?: string;
  path?: string;
  agents?: number;
  problems?: string;
  runtime?: FarmRuntime;
  filesPerChunk?: number;
  budgetUsd?: string;
  timeout: number;
  wait: boolean;
  attach: boolean;
  follow: boolean;
}

export const farmCommand: CommandModule<GlobalArgs, FarmArgs> = {
  ...COMMAND_HEADINGS.farm,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('action', { choices: ['start', 'status', 'attach', 'stop', 'watch'] as const, describe: 'What to do' })
    .positional('id', { type: 'string', describe: 'The farm id (its task id); for start: the task, in words' })
    .positional('agent', { type: 'string', describe: 'watch: the agent whose events to follow (what each attach pane runs)' })
    .option('path', { type: 'string', describe: 'start: the git repository to work on' })
    .option('agents', { alias: 'n', type: 'number', describe: 'start: how many agents (default: $DAN_FARM_AGENTS, 3)' })
    .option('problems', { type: 'string', describe: 'start: the command that lists the problems (npm run lint, npx tsc --noEmit, ...)' })
    .option('runtime', { choices: FARM_RUNTIMES, describe: 'start: claude-code (the CLI, headless) or sdk (default: $DAN_FARM_RUNTIME)' })
    .option('files-per-chunk', { type: 'number', describe: 'start: files in one chunk (default 1)' })
    .option('budget-usd', { type: 'string', describe: 'start: dollars the farm\'s model calls may cost, all its agents together; past it the farm stops, failed budget_exceeded' })
    .option('timeout', { alias: 't', type: 'number', default: DEFAULT_FARM_TIMEOUT_SECONDS, describe: 'start: seconds before the farm fails as timed out' })
    .option('wait', { alias: 'w', type: 'boolean', default: false, describe: 'start, stop: wait until the farm ends; exit 0 if completed' })
    .option('attach', { type: 'boolean', default: true, describe: 'attach: attach to the tmux session (--no-attach only creates it)' })
    .option('follow', { type: 'boolean', default: true, hidden: true })
    .example('$0 farm start --path ./my-app --agents 4 --problems "npm run lint" --wait', 'fix every lint problem with four agents')
    .example('$0 farm start "Add JSDoc to every exported function" --path ./my-app', 'no problems command: the model splits the task')
    .example('$0 farm start --path ./my-app --problems "npm run lint" --budget-usd 5', 'the same, stopped once its model calls cost $5')
    .example('$0 farm status <farm-id>', 'per agent: chunk, files locked, last event, restarts, tokens')
    .example('$0 farm attach <farm-id>', 'tmux, one read-only pane per agent') as Argv<FarmArgs>,
  handler: async (argv: ArgumentsCamelCase<FarmArgs>) => {
    if (argv.action === 'start') return start(argv);
    if (!argv.id && argv.action !== 'status') throw new InvalidInputError(`dan farm ${argv.action} needs the farm id: dan farm ${argv.action} <farm-id> (dan farm status lists them)`);
    if (argv.action === 'status') return status(argv);
    if (argv.action === 'attach') return attach(argv);
    if (argv.action === 'stop') return stop(argv);
    return watch(argv);
  },
};

async function start(argv: ArgumentsCamelCase<FarmArgs>): Promise<void> {
  const ctx = cliContext(argv);
  if (!argv.path) throw new InvalidInputError('--path is required: the git repository the agents work on');
  let budgetUsd: number | undefined;
  try {
    budgetUsd = argv.budgetUsd === undefined ? undefined : parseBudgetUsd(String(argv.budgetUsd));
  } catch (error) {
    throw new InvalidInputError((error as Error).message);
  }
  const task = farmTask({
    description: argv.id, path: path.resolve(argv.path), agentCount: argv.agents, problemsCommand: argv.problems, runtime: argv.runtime,
    filesPerChunk: argv.filesPerChunk, timeoutSeconds: argv.timeout, source: 'cli',
    ...(budgetUsd !== undefined ? { extraMetadata: { budget_usd: budgetUsd } } : {}),
  }, ctx.config, (field) => `--${field}`);
  const { redis, keys } = await cliRedis(ctx);
  try {
    const { taskId } = await startFarm(redis, keys, ctx.config, task);
    if (!argv.wait) {
      if (ctx.json) printJson({ farm_id: taskId, status: 'pending' });
      else process.stdout.write(`${taskId}\n`);
      return;
    }
    if (!ctx.json) process.stderr.write(`farm ${taskId} queued; waiting (Ctrl-C stops waiting, not the farm: dan farm stop ${taskId})\n`);
    const result = await followTask(redis, keys, taskId, {
      timeoutMs: (task.timeoutSeconds ?? argv.timeout) * 1000 + 60_000,
      onLine: (line) => { if (!ctx.json) process.stderr.write(`${line}\n`); },
      onStatus: (s) => { if (!ctx.json) process.stderr.write(`status: ${statusColour(s)}\n`); },
    });
    if (ctx.json) printJson({ farm_id: taskId, status: result?.status ?? 'unknown', output: result?.output ?? null, error: result?.error ?? null });
    else if (result) process.stdout.write(`${describeResult(result)}\n`);
    if (result?.status !== 'completed') process.exitCode = ExitCode.failed;
  } finally {
    redis.disconnect();
  }
}

async function status(argv: ArgumentsCamelCase<FarmArgs>): Promise<void> {
  const ctx = cliContext(argv);
  const { redis, keys } = await cliRedis(ctx);
  try {
    if (!argv.id) {
      const ids = await recentFarmIds(redis, keys, 20);
      const rows = await Promise.all(ids.map(async (id): Promise<Record<string, string>> => ({ id, ...(await new FarmStore(redis, keys, id).state()) })));
      if (ctx.json) return printJson(rows);
      if (rows.length === 0) process.stdout.write('no farms yet: dan farm start --path DIR --problems "<command>"\n');
      for (const r of rows) process.stdout.write(`${r['id'] ?? ''}  ${statusColour(r['status'] ?? '?')}  ${r['path'] ?? ''}  problems ${r['problems_before'] ?? '?'} -> ${r['problems_after'] || '?'}\n`);
      return;
    }
    const { farm: state, agents } = await farmStatus(redis, keys, argv.id);
    if (ctx.json) return printJson({ farm: state, agents });
    process.stdout.write(`farm ${argv.id}: ${statusColour(state['status'] ?? '?')}  ${state['path'] ?? ''}  (${state['runtime'] ?? ''})\n`);
    process.stdout.write(`problems ${state['problems_before'] ?? '?'} -> ${state['problems_after'] || '?'}; chunks ${state['chunks_done'] ?? 0} done of ${state['chunks_total'] ?? '?'}${state['result_branch'] ? `; result branch ${state['result_branch']}` : ''}${state['error'] ? `; ${state['error']}` : ''}\n`);
    for (const { name, locked, ...s } of agents) {
      const field = (key: string, empty = ''): string => String(s[key] ?? empty);
      process.stdout.write(`  ${colourFor(name)}  ${field('status').padEnd(10)} chunk ${field('chunk') || '-'}  locked [${locked.join(', ')}]  restarts ${field('restarts', '0')}  tokens ${field('tokens_in', '0')} in / ${field('tokens_out', '0')} out\n`);
      if (s['last_event']) process.stdout.write(`      last: ${field('last_event')} (${field('last_event_at')})\n`);
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * A tmux session with one read-only pane per agent, each following that agent's event stream until the
 * farm ends and then kept, so a finished farm's agents show what they did.
 */
async function attach(argv: ArgumentsCamelCase<FarmArgs>): Promise<void> {
  const ctx = cliContext(argv);
  if (!programExists('tmux')) throw new DanError('no_tmux', 'tmux is not installed: install it (apt-get install tmux, brew install tmux), or follow one agent with dan farm status', { exitCode: ExitCode.usage });
  const { redis, keys } = await cliRedis(ctx);
  let names: string[];
  try {
    names = await new FarmStore(redis, keys, argv.id!).agentNames();
  } finally {
    redis.disconnect();
  }
  if (names.length === 0) throw new DanError('not_found', `farm ${argv.id} has no agents yet: it may still be queued or refused (dan status ${argv.id})`, { exitCode: ExitCode.failed });
  const session = `dan-farm-${argv.id!.slice(0, 8)}`;
  const cli = process.argv[1] ?? 'dan';
  // The REDIS_URL as given, never one filled in from dan up's password file: a pane's command line
  // shows in `ps`, and a pane started in this folder finds the file itself.
  const givenUrl = argv.redis || process.env['REDIS_URL'];
  const env = [...(givenUrl ? [`REDIS_URL=${givenUrl}`] : []), `DAN_KEY_PREFIX=${ctx.config.keyPrefix}`];
  const paneCommand = (name: string) => ['env', ...env, process.execPath, cli, 'farm', 'watch', argv.id!, name].map(shellQuote).join(' ');
  spawnSync('tmux', ['kill-session', '-t', session]);
  // Read-only: no pane takes input, and the client attaches with -r. A pane stays after its watch ends.
  const created = spawnSync('tmux', readOnlySessionArgs(session, process.cwd(), names.map(paneCommand)), { encoding: 'utf8' });
  if (created.status !== 0) throw new DanError('tmux_failed', `tmux could not start a session: ${created.stderr.trim()}`);
  if (!argv.attach || !process.stdout.isTTY) {
    if (ctx.json) printJson({ session, panes: names });
    else process.stdout.write(`tmux session ${session}: ${names.length} pane(s) (${names.join(', ')}); attach with: tmux attach -r -t ${session}\n`);
    return;
  }
  spawnSync('tmux', ['attach-session', '-r', '-t', session], { stdio: 'inherit' });
}

async function stop(argv: ArgumentsCamelCase<FarmArgs>): Promise<void> {
  const ctx = cliContext(argv);
  const { redis, keys } = await cliRedis(ctx);
  try {
    const stopped = await stopFarm(redis, keys, argv.id!);
    if (stopped.kind === 'ended') {
      process.stdout.write(`farm ${argv.id} already ended: ${stopped.status}\n`);
      return;
    }
    if (!ctx.json) process.stderr.write(`farm ${argv.id}: stop requested; its agents stop, and what they finished is merged and reported\n`);
    if (argv.wait) {
      const result = await followTask(redis, keys, argv.id!, { timeoutMs: 300_000 });
      if (result) process.stdout.write(`${describeResult(result)}\n`);
    }
  } finally {
    redis.disconnect();
  }
}

/** One agent's event stream, from its start, followed until the farm ends (what each tmux pane runs). */
async function watch(argv: ArgumentsCamelCase<FarmArgs>): Promise<void> {
  if (!argv.agent) throw new InvalidInputError('dan farm watch <farm-id> <agent>');
  const ctx = cliContext(argv);
  const { redis, keys } = await cliRedis(ctx);
  const store = new FarmStore(redis, keys, argv.id!);
  process.stdout.write(`${colourFor(argv.agent)} of farm ${argv.id} (read-only)\n`);
  let last = '0';
  try {
    for (;;) {
      const entries = await store.agentLines(argv.agent, last, 200);
      for (const { id, line } of entries) {
        last = id;
        const at = new Date(Number(id.split('-')[0])).toISOString().slice(11, 19);
        process.stdout.write(`${at} ${line}\n`);
      }
      if (entries.length > 0) continue;
      if (!argv.follow || isTerminal(await store.status())) break;
      await sleep(500);
    }
    process.stdout.write(`-- farm ${argv.id}: ${(await store.status()) ?? null} --\n`);
  } finally {
    redis.disconnect();
  }
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}
