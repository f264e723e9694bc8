#!/usr/bin/env node
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadEnvFile } from '../../lib/config/env-file.js';
import { DanError, ExitCode } from '../../lib/errors.js';
import { knownSecrets, redactText } from '../../lib/logger.js';
import { agentsCommand } from './commands/agents.js';
import { cancelCommand } from './commands/cancel.js';
import { retryCommand } from './commands/retry.js';
import { tasksCommand } from './commands/tasks.js';
import { deadLetterCommand } from './commands/dead-letter.js';
import { demoCommand } from './commands/demo.js';
import { deployCommand } from './commands/deploy.js';
import { diffCommand } from './commands/diff.js';
import { elfCommand } from './commands/elf.js';
import { farmCommand } from './commands/farm.js';
import { gatewayCommand } from './commands/gateway.js';
import { costCommand } from './commands/cost.js';
import { inspectCommand } from './commands/inspect.js';
import { keysCommand } from './commands/keys.js';
import { approveCommand, rejectCommand } from './commands/approve.js';
import { webhooksCommand } from './commands/webhooks.js';
import { logsCommand } from './commands/logs.js';
import { mockLlmCommand } from './commands/mock-llm.js';
import { redisAclCommand } from './commands/redis-acl.js';
import { runCommand } from './commands/run.js';
import { sendCommand } from './commands/send.js';
import { serveCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import { upCommand } from './commands/up.js';

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
    .command(upCommand as never)
    .command(sendCommand as never)
    .command(runCommand as never)
    .command(statusCommand as never)
    .command(cancelCommand as never)
    .command(retryCommand as never)
    .command(tasksCommand as never)
    .command(diffCommand as never)
    .command(logsCommand as never)
    .command(agentsCommand as never)
    .command(inspectCommand as never)
    .command(mockLlmCommand as never)
    .command(demoCommand as never)
    .command(elfCommand as never)
    .command(farmCommand as never)
    .command(deadLetterCommand as never)
    .command(gatewayCommand as never)
    .command(costCommand as never)
    .command(redisAclCommand as never)
    .command(serveCommand as never)
    .command(keysCommand as never)
    .command(deployCommand as never)
    .command(approveCommand as never)
    .command(rejectCommand as never)
    .command(webhooksCommand as never)
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

