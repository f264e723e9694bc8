#!/usr/bin/env node
import path from 'node:path';
import yargs, { type Argv, type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadEnvFile } from '../../lib/config/env-file.js';
import { DanError, ExitCode } from '../../lib/errors.js';
import { knownSecrets, redactText } from '../../lib/logger.js';
import type { GlobalArgs } from './cli-context.js';
import { COMMAND_HEADINGS, type CommandHeading } from './command-headings.js';

/**
 * A command whose module is loaded only when it runs (its builder or handler is called): `dan --help`
 * lists every command from its heading, and `dan send` loads send's module alone, not `serve`'s HTTP
 * server or `deploy`'s manifests.
 */
function lazyCommand(heading: CommandHeading, load: () => Promise<CommandModule<GlobalArgs, never>>): CommandModule<GlobalArgs, never> {
  return {
    ...heading,
    // yargs 17 waits for a builder's promise (parseAsync); its types only know synchronous builders.
    builder: (async (args: Argv<GlobalArgs>) => {
      const { builder } = await load();
      if (typeof builder === 'function') return builder(args);
      return builder ? args.options(builder) : args;
    }) as unknown as (args: Argv<GlobalArgs>) => Argv<never>,
    handler: async (args) => (await load()).handler(args),
  };
}

// Typed loosely: each module's arguments type is its own; yargs checks the arguments at run time.
const LAZY_COMMANDS = [
  lazyCommand(COMMAND_HEADINGS.up, async () => (await import('./commands/up.js')).upCommand as never),
  lazyCommand(COMMAND_HEADINGS.send, async () => (await import('./commands/send.js')).sendCommand as never),
  lazyCommand(COMMAND_HEADINGS.run, async () => (await import('./commands/run.js')).runCommand as never),
  lazyCommand(COMMAND_HEADINGS.status, async () => (await import('./commands/status.js')).statusCommand as never),
  lazyCommand(COMMAND_HEADINGS.cancel, async () => (await import('./commands/cancel.js')).cancelCommand as never),
  lazyCommand(COMMAND_HEADINGS.retry, async () => (await import('./commands/retry.js')).retryCommand as never),
  lazyCommand(COMMAND_HEADINGS.tasks, async () => (await import('./commands/tasks.js')).tasksCommand as never),
  lazyCommand(COMMAND_HEADINGS.diff, async () => (await import('./commands/diff.js')).diffCommand as never),
  lazyCommand(COMMAND_HEADINGS.logs, async () => (await import('./commands/logs.js')).logsCommand as never),
  lazyCommand(COMMAND_HEADINGS.agents, async () => (await import('./commands/agents.js')).agentsCommand as never),
  lazyCommand(COMMAND_HEADINGS.inspect, async () => (await import('./commands/inspect.js')).inspectCommand as never),
  lazyCommand(COMMAND_HEADINGS.mockLlm, async () => (await import('./commands/mock-llm.js')).mockLlmCommand as never),
  lazyCommand(COMMAND_HEADINGS.demo, async () => (await import('./commands/demo.js')).demoCommand as never),
  lazyCommand(COMMAND_HEADINGS.elf, async () => (await import('./commands/elf.js')).elfCommand as never),
  lazyCommand(COMMAND_HEADINGS.farm, async () => (await import('./commands/farm.js')).farmCommand as never),
  lazyCommand(COMMAND_HEADINGS.deadLetter, async () => (await import('./commands/dead-letter.js')).deadLetterCommand as never),
  lazyCommand(COMMAND_HEADINGS.gateway, async () => (await import('./commands/gateway.js')).gatewayCommand as never),
  lazyCommand(COMMAND_HEADINGS.cost, async () => (await import('./commands/cost.js')).costCommand as never),
  lazyCommand(COMMAND_HEADINGS.redisAcl, async () => (await import('./commands/redis-acl.js')).redisAclCommand as never),
  lazyCommand(COMMAND_HEADINGS.serve, async () => (await import('./commands/serve.js')).serveCommand as never),
  lazyCommand(COMMAND_HEADINGS.keys, async () => (await import('./commands/keys.js')).keysCommand as never),
  lazyCommand(COMMAND_HEADINGS.deploy, async () => (await import('./commands/deploy.js')).deployCommand as never),
  lazyCommand(COMMAND_HEADINGS.approve, async () => (await import('./commands/approve.js')).approveCommand as never),
  lazyCommand(COMMAND_HEADINGS.reject, async () => (await import('./commands/approve.js')).rejectCommand as never),
  lazyCommand(COMMAND_HEADINGS.webhooks, async () => (await import('./commands/webhooks.js')).webhooksCommand as never),
];

/**
 * `dan`: the network's command line. Exit codes: 0 ok, 1 the task failed (or is not done),
 * 2 bad usage or input, 3 Redis unreachable, 4 refused because the domain's queue is full.
 */
async function main(): Promise<void> {
  endQuietlyOnClosedPipe();
  // Like compose, the settings of a .env in the current folder, under whatever the shell exports;
  // read before any command loads its config, so every command (dan up too) sees the same settings.
  loadEnvFile(path.resolve('.env'));
  await yargs(hideBin(process.argv))
    .scriptName('dan')
    .usage('$0 <command> [options]\n\nA distributed network of AI coding agents on Redis.')
    .option('redis', { alias: 'r', type: 'string', global: true, describe: 'Redis URL (default: $REDIS_URL or redis://localhost:6379)' })
    .option('json', { type: 'boolean', global: true, default: false, describe: 'Machine-readable output' })
    .option('prefix', { type: 'string', global: true, hidden: true, describe: 'Key prefix (default: $DAN_KEY_PREFIX)' })
    .command(LAZY_COMMANDS as never)
    .demandCommand(1, 'name a command; see dan --help')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((message, error) => {
      if (error) throw error;
      process.stderr.write(`dan: ${message}\nRun 'dan --help' for usage.\n`);
      process.exit(ExitCode.usage);
    })
    .parseAsync();
}

/**
 * `dan logs | head -1`: once the reader has gone, the next write fails with EPIPE. A Unix tool stops
 * quietly then, with exit 0 (its output was read as far as anyone wanted), instead of a stack trace.
 */
function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(ExitCode.ok);
      throw error;
    });
  }
}

main().catch((error: unknown) => {
  // The last words of the CLI get the same redaction as its log lines (passwords in URLs, keys).
  const say = (text: string) => process.stderr.write(`dan: ${redactText(text, knownSecrets())}\n`);
  if (error instanceof DanError) {
    say(error.message);
    process.exit(error.exitCode);
  }
  say(error instanceof Error ? error.stack ?? error.message : String(error));
  process.exit(ExitCode.failed);
});

