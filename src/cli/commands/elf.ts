import { randomBytes } from 'node:crypto';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ElfClient } from '../../../lib/elf/elf-client.js';
import type { Heuristic, HeuristicUpdateResult } from '../../../lib/elf/elf-types.js';
import { ExitCode, InvalidInputError } from '../../../lib/errors.js';
import { connectRedis } from '../../../lib/redis/connection.js';
import type { ElfCall } from '../../operations/elf-queries.js';
import { elfCall, elfGolden, elfHeuristics, elfHotspots, elfInjections, elfSearch, elfStats } from '../../operations/elf-queries.js';
import type { CliContext, GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, dim, printJson } from '../cli-context.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface ElfArgs extends GlobalArgs {
  client: string;
  timeout: number;
  domain?: string;
  limit?: number;
}

interface HeuristicsArgs extends ElfArgs { all: boolean; candidates: boolean }
interface IdArgs extends ElfArgs { id: number }
interface SearchArgs extends ElfArgs { text: string[] }
interface RecordArgs extends ElfArgs { rule: string[]; context?: string; confidence?: number }
interface UpdateArgs extends ElfArgs { id: number; task?: string }
interface HotspotsArgs extends ElfArgs { repository?: string }
interface McpArgs extends ElfArgs { task?: string; agent?: string }

type Call = ElfCall;

const out = (line = ''): void => void process.stdout.write(`${line}\n`);

interface OpenElf {
  ctx: CliContext;
  client: ElfClient;
  close(): void;
}

/** The two connections an `ElfClient` needs (commands, and replies on a subscriber), and the client. */
async function openElf(argv: ArgumentsCamelCase<ElfArgs>, callerPrefix: string): Promise<OpenElf> {
  const ctx = cliContext(argv);
  if (!Number.isFinite(argv.timeout) || argv.timeout <= 0) throw new InvalidInputError(`--timeout must be a positive number of milliseconds, got ${argv.timeout}`);
  const { redis, keys } = await cliRedis(ctx);
  let subscriber;
  try {
    subscriber = await connectRedis(ctx.config.redisUrl, { name: `dan-${callerPrefix}:replies`, failFast: true, blocking: true, logger: ctx.logger, connectTimeoutMs: 3_000 });
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  const client = new ElfClient(redis, subscriber, keys, `${callerPrefix}-${process.pid}-${randomBytes(4).toString('hex')}`, argv.timeout);
  return {
    ctx, client,
    close: () => {
      client.close();
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}

/**
 * Runs `fn` with a call into ELF and closes the connections so the process exits. No answer in
 * time means no ELF process serves this Redis and prefix: exit 1 with how to start it.
 */
async function withElf(argv: ArgumentsCamelCase<ElfArgs>, fn: (call: Call, ctx: CliContext) => Promise<void>): Promise<void> {
  const { ctx, client, close } = await openElf(argv, 'cli');
  try {
    await fn(elfCall(client, argv.client, argv.timeout), ctx);
  } finally {
    close();
  }
}

/** A subcommand of `dan elf`: `--client` and `--timeout` on top of its own options. */
function sub<A extends ElfArgs>(
  command: string, describe: string, options: (yargs: Argv<ElfArgs>) => Argv<A>,
  run: (call: Call, argv: ArgumentsCamelCase<A>, ctx: CliContext) => Promise<void>,
): CommandModule<GlobalArgs, A> {
  return {
    command, describe,
    builder: (yargs: Argv<GlobalArgs>) => options(yargs
      .option('client', { type: 'string', default: 'default', describe: "Whose memory (the request's client_id)" })
      .option('timeout', { type: 'number', default: 5_000, describe: 'Milliseconds to wait for ELF to answer' }) as Argv<ElfArgs>),
    handler: (argv: ArgumentsCamelCase<A>) => withElf(argv, (call, ctx) => run(call, argv, ctx)),
  };
}

const domainOption = <T extends ElfArgs>(yargs: Argv<T>) => yargs.option('domain', { alias: 'd', type: 'string', describe: 'Only this domain' }) as Argv<T>;
const limitOption = <T extends ElfArgs>(yargs: Argv<T>) => yargs.option('limit', { alias: 'n', type: 'number', describe: 'At most this many' }) as Argv<T>;

function heuristicTable(list: Heuristic[], empty: string): void {
  if (list.length === 0) {
    out(empty);
    return;
  }
  const width = Math.max(6, ...list.map((h) => h.domain.length));
  out(`${'ID'.padStart(5)}  ${'DOMAIN'.padEnd(width)}  CONF  ${'VAL/VIO'.padEnd(7)}  G  RULE`);
  for (const h of list) {
    const mark = h.golden ? '*' : ' ';
    const dormant = h.dormant ? dim(' (dormant)') : '';
    const candidate = h.state === 'candidate' ? dim(` (candidate from ${h.origin}: 'dan elf approve ${h.id}' to use it)`) : '';
    out(`${String(h.id).padStart(5)}  ${h.domain.padEnd(width)}  ${h.confidence.toFixed(2)}  ${`${h.validations}/${h.violations}`.padEnd(7)}  ${mark}  ${h.rule}${dormant}${candidate}`);
  }
}

/** bm25 scores of a small memory are tiny (a term in every document weighs almost nothing). */
function formatScore(score: number): string {
  return score !== 0 && Math.abs(score) < 0.01 ? score.toExponential(1) : score.toFixed(2);
}

function kib(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}

const stats = sub('stats', 'Counts of the memory: outcomes, heuristics, golden, dormant, trails, injections, size', (y) => y, async (call, _argv, ctx) => {
  const s = await elfStats(call);
  if (ctx.json) return printJson(s);
  const byStatus = Object.entries(s.outcomes.byStatus).map(([status, n]) => `${status} ${n}`).join(', ');
  out(`client        ${s.client_id}`);
  out(`outcomes      ${s.outcomes.total}${byStatus ? ` (${byStatus})` : ''}`);
  out(`heuristics    ${s.heuristics} (golden ${s.golden}, dormant ${s.dormant})`);
  out(`trails        ${s.trails}`);
  out(`injections    ${s.injections}`);
  out(`plans         ${s.plans}`);
  out(`postmortems   ${s.postmortems}`);
  out(`database      ${kib(s.databaseBytes)}`);
});

const heuristics = sub<HeuristicsArgs>('heuristics', 'List heuristics with their confidence (--all: dormant ones too; --candidates: only those awaiting approval)',
  (y) => limitOption(domainOption(y))
    .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'Include dormant heuristics (confidence below 0.2)' })
    .option('candidates', { type: 'boolean', default: false, describe: 'Only lessons proposed by models or postmortems, not yet approved' }) as Argv<HeuristicsArgs>,
  async (call, argv, ctx) => {
    const list = await elfHeuristics(call, { domain: argv.domain, limit: argv.limit, all: argv.all, candidates: argv.candidates });
    if (ctx.json) return printJson(list);
    heuristicTable(list, "no heuristics yet (record one with 'dan elf record <domain> <rule>')");
  });

const golden = sub('golden', 'List golden rules: confidence >= 0.9, validated at least 10 times', (y) => limitOption(domainOption(y)), async (call, argv, ctx) => {
  const list = await elfGolden(call, argv);
  if (ctx.json) return printJson(list);
  heuristicTable(list, 'no golden rules yet');
});

const search = sub<SearchArgs>('search <text...>', 'Full-text search over heuristics and past tasks',
  (y) => limitOption(domainOption(y)).positional('text', { type: 'string', array: true, demandOption: true, describe: 'What to look for' }) as Argv<SearchArgs>,
  async (call, argv, ctx) => {
    const found = await elfSearch(call, argv.text.join(' '), argv);
    if (ctx.json) return printJson(found);
    out(found.heuristics.length > 0 ? 'rules:' : 'rules: none match');
    for (const { heuristic: h, score } of found.heuristics) {
      out(`  ${String(h.id).padStart(5)}  ${h.golden ? '[golden] ' : ''}${h.state === 'candidate' ? '[candidate] ' : ''}${h.rule} ${dim(`(${h.domain}, confidence ${h.confidence.toFixed(2)}, score ${formatScore(score)})`)}`);
    }
    out(found.outcomes.length > 0 ? 'past tasks:' : 'past tasks: none match');
    for (const { outcome: o } of found.outcomes) {
      out(`  ${o.taskId} ${o.domain} ${o.status}: ${o.description || '(no description)'}${o.status === 'failed' && o.error ? ` - error: ${o.error}` : ''}`);
    }
  });

const hotspots = sub<HotspotsArgs>('hotspots', 'Files ranked by trail strength (tasks that read or wrote them, decaying)',
  (y) => limitOption(domainOption(y)).option('repository', { type: 'string', describe: "Only this repository's trails (a task's context.path or context.workspace; '' for tasks that named none)" }) as Argv<HotspotsArgs>,
  async (call, argv, ctx) => {
    const list = await elfHotspots(call, argv);
    if (ctx.json) return printJson(list);
    if (list.length === 0) return out('no trails yet: files appear here once tasks have read or written them');
    const width = Math.max(4, ...list.map((h) => h.file.length));
    out(`${'FILE'.padEnd(width)}  STRENGTH  DEPOSITS  RECENT FAILURES`);
    for (const h of list) out(`${h.file.padEnd(width)}  ${h.strength.toFixed(2).padStart(8)}  ${String(h.deposits).padStart(8)}  ${String(h.recentFailures).padStart(15)}`);
  });

interface InjectionsArgs extends ElfArgs { task: string }

const injections = sub<InjectionsArgs>('injections <task>', "The exact memory text each worker of a task was given, and the heuristics in it",
  (y) => y.positional('task', { type: 'string', demandOption: true, describe: 'Task id' }) as Argv<InjectionsArgs>,
  async (call, argv, ctx) => {
    const list = await elfInjections(call, argv.task);
    if (ctx.json) return printJson(list);
    if (list.length === 0) return out(`no memory was injected into task ${argv.task}`);
    for (const i of list) {
      out(`${i.worker} (${i.domain}, ${i.tokens} tokens, heuristics ${i.heuristicIds.join(', ') || 'none'}) at ${i.createdAt}:`);
      out(i.text.split('\n').map((line) => `  ${line}`).join('\n'));
    }
  });

const record = sub<RecordArgs>('record <domain> <rule...>', "Record a heuristic for a domain ('*': every domain)",
  (y) => y
    .positional('domain', { type: 'string', demandOption: true, describe: "Domain name, or '*' for every domain" })
    .positional('rule', { type: 'string', array: true, demandOption: true, describe: 'The rule' })
    .option('context', { type: 'string', describe: 'When or why the rule applies' })
    .option('confidence', { type: 'number', describe: 'Initial confidence from 0 to 1 (default 0.5)' }) as Argv<RecordArgs>,
  async (call, argv, ctx) => {
    if (argv.confidence !== undefined && !Number.isFinite(argv.confidence)) throw new InvalidInputError('--confidence must be a number from 0 to 1');
    const recorded = await call<{ id: number; confidence: number; created: boolean; heuristic: Heuristic }>('record_heuristic', {
      domain: argv.domain, rule: argv.rule.join(' '), source: 'person',
      ...(argv.context !== undefined ? { context: argv.context } : {}), ...(argv.confidence !== undefined ? { confidence: argv.confidence } : {}),
    });
    if (ctx.json) return printJson(recorded);
    out(`${recorded.created ? 'recorded heuristic' : 'already known: heuristic'} ${recorded.id} (${recorded.heuristic.domain}, confidence ${recorded.confidence.toFixed(2)})`);
  });

/** `dan elf approve|reject <id>`: a person's word on a candidate lesson. */
function judge(op: 'approve' | 'reject', describe: string): CommandModule<GlobalArgs, IdArgs> {
  return sub<IdArgs>(`${op} <id>`, describe,
    (y) => y.positional('id', { type: 'number', demandOption: true, describe: 'Heuristic id (see dan elf heuristics --candidates)' }) as Argv<IdArgs>,
    async (call, argv, ctx) => {
      if (!Number.isSafeInteger(argv.id) || argv.id <= 0) throw new InvalidInputError(`the heuristic id must be a positive integer, got ${String(argv.id)}`);
      const h = await call<Heuristic>(op, { id: argv.id });
      if (ctx.json) return printJson(h);
      out(op === 'approve' ? `approved heuristic ${h.id} (${h.domain}, from ${h.origin}): later tasks may see it` : `rejected and deleted heuristic ${h.id} (${h.domain}, from ${h.origin})`);
    });
}

function update(op: 'validate' | 'violate' | 'contradict', describe: string): CommandModule<GlobalArgs, UpdateArgs> {
  return sub<UpdateArgs>(`${op} <id>`, describe,
    (y) => y
      .positional('id', { type: 'number', demandOption: true, describe: 'Heuristic id' })
      .option('task', { type: 'string', describe: 'The task this concerns: a task credits a heuristic once' }) as Argv<UpdateArgs>,
    async (call, argv, ctx) => {
      if (!Number.isSafeInteger(argv.id) || argv.id <= 0) throw new InvalidInputError(`the heuristic id must be a positive integer, got ${String(argv.id)}`);
      const result = await call<HeuristicUpdateResult>(op, { id: argv.id, ...(argv.task ? { task_id: argv.task } : {}) });
      const h = result.heuristic;
      if (ctx.json) printJson(result);
      else if (result.applied) out(`heuristic ${h.id}: confidence ${h.confidence.toFixed(2)} (validations ${h.validations}, violations ${h.violations}${op === 'contradict' ? `, contradictions ${h.contradictions}` : ''}${h.golden ? ', golden' : ''})`);
      else process.stderr.write(`not applied: ${result.message ?? result.reason ?? 'no change'}\n`);
      if (!result.applied) process.exitCode = ExitCode.failed;
    });
}

/** `dan elf mcp`: the MCP server on stdio. The SDK is loaded only for this subcommand. */
const mcp: CommandModule<GlobalArgs, McpArgs> = {
  command: 'mcp',
  describe: 'Run the ELF MCP server on stdio (tools elf_query, elf_search, elf_record_heuristic, ...)',
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('client', { type: 'string', default: process.env['DAN_ELF_CLIENT'] || 'default', describe: 'Whose memory (default: $DAN_ELF_CLIENT or default)' })
    .option('timeout', { type: 'number', default: 5_000, describe: 'Milliseconds to wait for ELF to answer each tool call' })
    .option('task', { type: 'string', describe: "The task the MCP client works on: its lessons and contradictions are recorded under it" })
    .option('agent', { type: 'string', describe: 'The worker using the server, recorded as the origin of its lessons (default claude-code)' }) as Argv<McpArgs>,
  handler: async (argv: ArgumentsCamelCase<McpArgs>) => {
    const { runElfMcpServer } = await import('../../elf/elf-mcp.js');
    const { ctx, client, close } = await openElf(argv, 'mcp');
    const abort = new AbortController();
    const onSignal = (): void => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await runElfMcpServer({
        elf: client, clientId: argv.client, timeoutMs: argv.timeout, logger: ctx.logger, signal: abort.signal,
        ...(argv.task ? { taskId: argv.task } : {}), ...(argv.agent ? { agent: argv.agent } : {}),
      });
    } finally {
      close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

/** `dan elf ...`: the ELF memory for people (and, with `mcp`, for MCP clients). */
export const elfCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  ...COMMAND_HEADINGS.elf,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .command(stats as never)
    .command(heuristics as never)
    .command(golden as never)
    .command(search as never)
    .command(hotspots as never)
    .command(injections as never)
    .command(record as never)
    .command(update('validate', 'A heuristic helped: confidence c becomes c + 0.1(1 - c)') as never)
    .command(update('violate', 'A heuristic misled: confidence c becomes c - 0.1c') as never)
    .command(update('contradict', 'A heuristic is wrong, shown by a task that went against it and succeeded: confidence c becomes c - 0.15c') as never)
    .command(judge('approve', 'Approve a candidate lesson a model or a postmortem proposed: only approved lessons reach prompts') as never)
    .command(judge('reject', 'Reject (delete) a candidate lesson') as never)
    .command(mcp as never)
    .demandCommand(1, 'name an elf command; see dan elf --help'),
  handler: () => undefined,
};
