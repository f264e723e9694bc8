import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { DeadLetter } from '../../../lib/redis/dead-letters.js';
import { checkTask, DeadLetters, matchRef } from '../../../lib/redis/dead-letters.js';
import { DanError, ExitCode, InvalidInputError, QueueFullError } from '../../../lib/errors.js';
import { queueDepth } from '../../../lib/redis/queue-counts.js';
import type { CliContext, GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, dim, printJson } from '../cli-context.js';
import { knownDomains } from '../../operations/known-domains.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface ListArgs extends GlobalArgs { domain?: string; limit: number }
interface ShowArgs extends GlobalArgs { ref: string }
interface SelectArgs extends GlobalArgs { refs: string[]; all: boolean; domain?: string }
interface RetryArgs extends SelectArgs { to?: string }
interface PurgeArgs extends SelectArgs { olderThan?: string; yes: boolean }

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const err = (line: string): void => void process.stderr.write(`${line}\n`);
const REF_HELP = "an entry's id, a task id, or {domain}:{index} as 'dan dead-letter list' shows them";

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--older-than`: a number and a unit (ms, s, m, h, d, w), such as `7d` or `12h`. */
export function parseAge(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(text);
  if (!match) throw new InvalidInputError(`--older-than takes a number and a unit (ms, s, m, h, d, w), such as 7d or 12h; got '${text}'`);
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}

/** One line of a raw input for a listing: whitespace collapsed, control bytes shown, cut at `width`. */
export function preview(raw: string, width = 100): string {
  // eslint-disable-next-line no-control-regex
  const flat = raw.replace(/\s+/g, ' ').trim().replace(/[\u0000-\u001f\u007f\ufffd]/g, (c) => (c === '\ufffd' ? '?' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  if (flat === '') return dim('(empty)');
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

/** An entry as `--json` prints it (without the item's bytes, which `raw` already carries). */
export function entryJson(e: DeadLetter): Record<string, unknown> {
  return {
    ref: e.ref, id: e.id ?? null, domain: e.domain, index: e.index, dead_lettered_at: e.deadLetteredAt ?? null,
    task_id: e.taskId ?? null, reason: e.reason, raw: e.raw, envelope: e.envelope,
  };
}

function counts(entries: DeadLetter[]): Record<string, number> {
  const byDomain: Record<string, number> = {};
  for (const e of entries) byDomain[e.domain] = (byDomain[e.domain] ?? 0) + 1;
  return byDomain;
}

function describeCounts(byDomain: Record<string, number>): string {
  return Object.entries(byDomain).sort(([a], [b]) => a.localeCompare(b)).map(([d, n]) => `${d} ${n}`).join(', ');
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

interface Session {
  store: DeadLetters;
  ctx: CliContext;
  knownDomains(): Promise<string[]>;
  queueDepth(domain: string): Promise<number>;
}

/** Opens Redis for one subcommand and closes it afterwards, so the process exits. */
async function withStore(argv: ArgumentsCamelCase<GlobalArgs>, fn: (session: Session) => Promise<void>): Promise<void> {
  const ctx = cliContext(argv);
  const { redis, keys } = await cliRedis(ctx);
  try {
    await fn({
      store: new DeadLetters(redis, keys), ctx,
      knownDomains: () => knownDomains(redis, keys, ctx.config),
      queueDepth: (domain) => queueDepth(redis, keys, domain),
    });
  } finally {
    redis.disconnect();
  }
}

/** The one entry a ref names; not found or ambiguous is exit 2 with what to type instead. */
function single(entries: DeadLetter[], ref: string): DeadLetter {
  const found = matchRef(entries, ref);
  if (found.length === 1) return found[0] as DeadLetter;
  if (found.length === 0) throw new DanError('not_found', `no dead letter '${ref}': name ${REF_HELP}`, { exitCode: ExitCode.usage });
  throw new DanError('ambiguous', `'${ref}' names ${found.length} dead letters (${found.map((e) => e.ref).join(', ')}): name one of those`, { exitCode: ExitCode.usage });
}

/** The entries `retry` and `purge` act on: named ones (all must exist), or `--all` of a domain or of every domain. */
async function select(store: DeadLetters, argv: SelectArgs, verb: string): Promise<DeadLetter[]> {
  if (argv.all && argv.refs.length > 0) throw new InvalidInputError(`name entries to ${verb} or use --all, not both`);
  if (!argv.all && argv.refs.length === 0) throw new InvalidInputError(`name the entries to ${verb} (${REF_HELP}), or use --all [--domain d]`);
  if (!argv.all && argv.domain !== undefined) throw new InvalidInputError('--domain goes with --all; a named entry already says its domain');
  const entries = await store.read(argv.all ? argv.domain : undefined);
  if (argv.all) return entries;
  const chosen = new Map<string, DeadLetter>();
  const problems: string[] = [];
  for (const ref of argv.refs) {
    try {
      const entry = single(entries, ref);
      chosen.set(`${entry.domain}:${entry.index}`, entry);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw new DanError('not_found', `${problems.join('\n')}\nnothing was changed`, { exitCode: ExitCode.usage });
  return [...chosen.values()];
}

const list: CommandModule<GlobalArgs, ListArgs> = {
  command: 'list',
  describe: 'Dead-lettered input of every domain, newest first, with its reason and a preview, and a count per domain',
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('domain', { alias: 'd', type: 'string', describe: 'Only this domain' })
    .option('limit', { alias: 'n', type: 'number', default: 20, describe: 'Show the newest N entries (0: all); counts are always of all' }) as Argv<ListArgs>,
  handler: (argv: ArgumentsCamelCase<ListArgs>) => withStore(argv, async ({ store, ctx }) => {
    if (!Number.isInteger(argv.limit) || argv.limit < 0) throw new InvalidInputError(`-n takes a whole number (0 for all), got ${argv.limit}`);
    const entries = await store.read(argv.domain);
    const shown = argv.limit === 0 ? entries : entries.slice(0, argv.limit);
    const byDomain = counts(entries);
    if (ctx.json) return printJson({ total: entries.length, counts: byDomain, entries: shown.map(entryJson) });
    if (entries.length === 0) return out(argv.domain === undefined ? 'no dead letters' : `no dead letters in ${argv.domain}`);
    for (const e of shown) {
      out(`${e.ref}  ${e.domain}  ${e.deadLetteredAt ?? dim('(no time)')}${e.taskId ? `  task ${e.taskId}` : ''}${e.envelope ? '' : dim('  (not an envelope: shown as pushed)')}`);
      out(`  reason: ${e.reason}`);
      out(`  raw:    ${preview(e.raw)}`);
    }
    const more = shown.length < entries.length ? `; showing the newest ${shown.length} (-n 0 for all)` : '';
    out(`\n${plural(entries.length, 'dead letter')}: ${describeCounts(byDomain)}${more}`);
  }),
};

const show: CommandModule<GlobalArgs, ShowArgs> = {
  command: 'show <ref>',
  describe: 'One dead letter whole: the reason next to the exact raw input',
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('ref', { type: 'string', demandOption: true, describe: `Which one: ${REF_HELP}` }) as Argv<ShowArgs>,
  handler: (argv: ArgumentsCamelCase<ShowArgs>) => withStore(argv, async ({ store, ctx }) => {
    const e = single(await store.read(), argv.ref);
    if (ctx.json) return printJson(entryJson(e));
    out(`ref       ${e.ref}`);
    out(`id        ${e.id ?? dim(`(none: an older entry; name it ${e.domain}:${e.index})`)}`);
    out(`domain    ${e.domain} (entry ${e.index} of tasks:dead:${e.domain}, counted from the oldest)`);
    out(`when      ${e.deadLetteredAt ?? dim('(not recorded)')}`);
    out(`task      ${e.taskId ?? dim('(no task id in the input)')}`);
    out(`reason    ${e.reason}${e.envelope ? '' : dim(' (a client pushed this item onto the list as it is)')}`);
    // An item that is not an envelope is its own raw input: its bytes, whatever they are.
    const bytes = e.envelope ? Buffer.from(e.raw) : e.item;
    out(`raw       ${bytes.length} bytes, exactly as received, between the lines:`);
    out(dim('-----'));
    process.stdout.write(bytes);
    out();
    out(dim('-----'));
    const check = checkTask(e.raw);
    out(dim(check.ok
      ? `retry with 'dan dead-letter retry ${e.ref} [--to <domain>]', delete with 'dan dead-letter purge ${e.ref}'`
      : `cannot be retried: ${check.why}; delete with 'dan dead-letter purge ${e.ref}'`));
  }),
};

const selectOptions = <T extends SelectArgs>(yargs: Argv<GlobalArgs>, verb: string): Argv<T> => yargs
  .positional('refs', { type: 'string', array: true, default: [] as string[], describe: `Entries to ${verb}: ${REF_HELP}` })
  .option('all', { type: 'boolean', default: false, describe: `${verb[0]?.toUpperCase()}${verb.slice(1)} every entry (of --domain, or of every domain)` })
  .option('domain', { alias: 'd', type: 'string', describe: 'With --all: only this domain' }) as Argv<T>;

interface Planned { entry: DeadLetter; to: string; taskId?: string }

/**
 * Backpressure, as for 'dan send': a queue at DAN_MAX_QUEUE_DEPTH (0: no limit) would only dead-letter
 * the input again. Named entries go all together or not at all (QueueFullError, exit 4); with --all
 * as many as fit are queued and the rest are skipped.
 */
async function withinQueueLimits(ready: Planned[], max: number, depthOf: (domain: string) => Promise<number>, all: boolean): Promise<{ fits: Planned[]; full: { entry: DeadLetter; why: string }[] }> {
  if (max <= 0) return { fits: ready, full: [] };
  const depth = new Map<string, number>();
  const room = new Map<string, number>();
  const fits: Planned[] = [];
  const full: { entry: DeadLetter; why: string }[] = [];
  for (const item of ready) {
    if (!depth.has(item.to)) {
      const waiting = await depthOf(item.to);
      depth.set(item.to, waiting);
      room.set(item.to, max - waiting);
    }
    const left = room.get(item.to) ?? 0;
    if (left <= 0) {
      if (!all) throw new QueueFullError(item.to, depth.get(item.to) ?? max, max);
      full.push({ entry: item.entry, why: `the ${item.to} queue is full (DAN_MAX_QUEUE_DEPTH=${max}); retry it once the queue drains` });
      continue;
    }
    room.set(item.to, left - 1);
    fits.push(item);
  }
  return { fits, full };
}

const retry: CommandModule<GlobalArgs, RetryArgs> = {
  command: 'retry [refs..]',
  describe: 'Queue dead-lettered input again (on its domain, or --to another) and remove its entry, atomically',
  builder: (yargs: Argv<GlobalArgs>) => selectOptions<RetryArgs>(yargs, 'retry')
    .option('to', { type: 'string', describe: 'Queue on this domain (main: let the main orchestrator route it) instead of the one it was sent to' })
    .example('$0 dead-letter retry 3f9c0a1b2c3d4e5f --to backend', 'a task sent to a domain nobody serves')
    .example('$0 dead-letter retry --all --domain backend', "everything backend's list holds that can be a task"),
  handler: (argv: ArgumentsCamelCase<RetryArgs>) => withStore(argv, async (session) => {
    const { store, ctx } = session;
    const entries = await select(store, argv, 'retry');
    const known = await session.knownDomains();
    const served = (d: string): boolean => d === 'main' || known.includes(d);
    if (argv.to !== undefined && !served(argv.to)) {
      throw new DanError('unknown_domain', `unknown domain '${argv.to}'; known domains: main, ${known.join(', ')}`, { exitCode: ExitCode.usage });
    }
    const skipped: { entry: DeadLetter; why: string }[] = [];
    const ready: Planned[] = [];
    // Oldest first: queued in the order they first arrived.
    for (const entry of [...entries].reverse()) {
      const check = checkTask(entry.raw);
      const to = argv.to ?? entry.domain;
      if (!check.ok) skipped.push({ entry, why: `its input cannot be a task: ${check.why}; read it with 'dan dead-letter show ${entry.ref}', send a corrected task with 'dan send', and delete this entry with 'dan dead-letter purge ${entry.ref}'` });
      else if (!served(to)) skipped.push({ entry, why: `it was sent to '${to}', a domain nobody serves (known domains: main, ${known.join(', ')}); pass --to <domain>` });
      else ready.push({ entry, to, ...(check.taskId !== undefined ? { taskId: check.taskId } : {}) });
    }
    if (!argv.all && skipped.length > 0) {
      throw new DanError('not_retryable', `${skipped.map((s) => `cannot retry ${s.entry.ref}: ${s.why}`).join('\n')}\nnothing was retried`, { exitCode: ExitCode.usage });
    }
    const { fits, full } = await withinQueueLimits(ready, ctx.config.maxQueueDepth, session.queueDepth, argv.all);
    skipped.push(...full);
    const retried: Planned[] = [];
    const gone: DeadLetter[] = [];
    for (const item of fits) {
      const outcome = await store.retry(item.entry, item.to);
      if (outcome === 'moved') retried.push(item);
      else if (outcome === 'gone') gone.push(item.entry);
      else skipped.push({ entry: item.entry, why: 'its input is not a JSON object' });
    }
    if (ctx.json) {
      printJson({
        retried: retried.map((r) => ({ ref: r.entry.ref, from: r.entry.domain, to: r.to, task_id: r.taskId ?? null })),
        skipped: skipped.map((s) => ({ ref: s.entry.ref, domain: s.entry.domain, reason: s.why })),
        gone: gone.map((e) => e.ref),
      });
    } else {
      for (const r of retried) out(`retried ${r.entry.ref} onto tasks:pending:${r.to}${r.taskId ? ` (task ${r.taskId} is pending again)` : ''}`);
      for (const s of skipped) err(`skipped ${s.entry.ref}: ${s.why}`);
      for (const e of gone) err(`${e.ref} is gone: someone else retried or purged it meanwhile`);
      if (argv.all) out(entries.length === 0 ? 'no dead letters to retry' : `retried ${retried.length} of ${plural(entries.length, 'dead letter')}`);
    }
    if (!argv.all && skipped.length > 0) process.exitCode = ExitCode.usage;
    else if (full.length > 0) process.exitCode = ExitCode.queueFull;
    else if (gone.length > 0) process.exitCode = ExitCode.failed;
  }),
};

const purge: CommandModule<GlobalArgs, PurgeArgs> = {
  command: 'purge [refs..]',
  describe: 'Delete dead letters: named ones at once; --all only says how many it would delete unless --yes',
  builder: (yargs: Argv<GlobalArgs>) => selectOptions<PurgeArgs>(yargs, 'purge')
    .option('older-than', { type: 'string', describe: 'With --all: only entries dead-lettered longer ago than this (30m, 12h, 7d, 2w)' })
    .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'With --all: really delete' })
    .example('$0 dead-letter purge --all --older-than 7d', 'says how many it would delete')
    .example('$0 dead-letter purge --all --older-than 7d --yes', 'deletes them'),
  handler: (argv: ArgumentsCamelCase<PurgeArgs>) => withStore(argv, async ({ store, ctx }) => {
    if (argv.olderThan !== undefined && !argv.all) throw new InvalidInputError('--older-than goes with --all');
    const age = argv.olderThan === undefined ? undefined : parseAge(argv.olderThan);
    let entries = await select(store, argv, 'purge');
    if (age !== undefined) {
      const before = Date.now() - age;
      // An entry without a time has an unknown age: kept.
      entries = entries.filter((e) => e.deadLetteredAt !== undefined && Date.parse(e.deadLetteredAt) < before);
    }
    const byDomain = describeCounts(counts(entries));
    if (argv.all && !argv.yes) {
      if (ctx.json) return printJson({ would_delete: entries.length, counts: counts(entries), deleted: 0 });
      return out(entries.length === 0
        ? 'no dead letters match; nothing to delete'
        : `would delete ${plural(entries.length, 'dead letter')} (${byDomain}); run again with --yes to delete them`);
    }
    const deleted = await store.purge(entries);
    if (ctx.json) return printJson({ deleted, counts: counts(entries), refs: entries.map((e) => e.ref) });
    const meanwhile = entries.length - deleted;
    out(`deleted ${plural(deleted, 'dead letter')}${byDomain ? ` (${byDomain})` : ''}${meanwhile > 0 ? `; ${meanwhile} had already gone` : ''}`);
  }),
};

/** `dan dead-letter ...`: what the network could not take as a task, kept with the reason. */
export const deadLetterCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  ...COMMAND_HEADINGS.deadLetter,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .command(list as never)
    .command(show as never)
    .command(retry as never)
    .command(purge as never)
    .demandCommand(1, 'name a dead-letter command; see dan dead-letter --help'),
  handler: () => undefined,
};
