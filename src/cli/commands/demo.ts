import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { loadConfig } from '../../../lib/config.js';
import { DanError, ExitCode } from '../../../lib/errors.js';
import { createLogger } from '../../../lib/logger.js';
import { connectRedis } from '../../../lib/redis/connection.js';
import { Keys } from '../../../lib/redis/keys.js';
import { submitTask } from '../../../lib/redis/task-store.js';
import type { SupervisorEvent } from '../../main/domain-supervisor.js';
import type { GlobalArgs } from '../cli-context.js';
import { colourFor, dim, printJson } from '../cli-context.js';
import { freePort, redisServerOnPath, startLockedRedisServer } from '../local-redis.js';
import { describeResult, followTask } from '../task-view.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface DemoArgs extends GlobalArgs {
  task: string;
  workspace?: string;
  verbose: boolean;
}

export const DEMO_TASK = 'Add user registration: a POST /api/users endpoint and a signup form';

function describeEvent(event: SupervisorEvent): string | undefined {
  switch (event.type) {
    case 'spawning': return `supervisor: ${event.depth} task(s) waiting for ${event.domain}: spawning ${event.agentId} (process)`;
    case 'ready': return `supervisor: ${event.agentId} ready (first heartbeat after ${event.ms} ms)`;
    case 'spawn_failed': return `supervisor: ${event.agentId} failed to start: ${event.error}`;
    case 'agent_exited': return `supervisor: ${event.agentId} exited (${event.signal ?? `code ${event.code}`})`;
    default: return undefined;
  }
}

/** Shows the first lines of each file the task wrote. */
function preview(workspace: string, files: string[], lines = 6): string {
  return files.map((file) => {
    let text = '';
    try {
      text = readFileSync(path.join(workspace, file), 'utf8');
    } catch {
      return `--- ${file} (not readable)`;
    }
    const head = text.split('\n').slice(0, lines).map((l) => `    ${l}`).join('\n');
    return `--- ${file}\n${dim(head)}`;
  }).join('\n');
}

export const demoCommand: CommandModule<GlobalArgs, DemoArgs> = {
  ...COMMAND_HEADINGS.demo,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('task', { type: 'string', default: DEMO_TASK, describe: 'The task to send to main' })
    .option('workspace', { type: 'string', describe: 'Folder the workers write into (default: a new temporary folder)' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: "Also show the agents' own logs" }) as Argv<DemoArgs>,
  handler: async (argv: ArgumentsCamelCase<DemoArgs>) => {
    if (!redisServerOnPath()) {
      throw new DanError('redis_missing', "the demo needs redis-server: run 'scripts/install-redis.sh' (or 'npm run demo', which does it)", { exitCode: ExitCode.redisUnreachable });
    }
    const say = (text: string) => { if (!argv.json) process.stderr.write(`${text}\n`); };
    const logger = createLogger({ level: argv.verbose ? 'info' : 'warn', base: { agentId: 'demo' } });
    const workspace = path.resolve(argv.workspace ?? mkdtempSync(path.join(os.tmpdir(), 'dan-demo-')));
    // Never open, even for a demo: a local user could otherwise push tasks to its agents.
    const redisDir = mkdtempSync(path.join(os.tmpdir(), 'dan-demo-redis-'));
    const redisServer = await startLockedRedisServer(await freePort(), logger, { dir: redisDir, persist: false });
    const config = loadConfig({ ...process.env, ANTHROPIC_API_KEY: '' }, {
      REDIS_URL: redisServer.url, DAN_WORKSPACE: workspace, DAN_LLM: 'local', DAN_KEY_PREFIX: '', DAN_DOMAIN_IDLE_MS: '60000',
      DAN_LOG_LEVEL: argv.verbose ? 'info' : 'warn',
      // The demo's memory lives in a folder of its own, not in the folder it was started from (nor in
      // the workspace, where workers could touch it).
      DAN_ELF_DIR: process.env['DAN_ELF_DIR'] || mkdtempSync(path.join(os.tmpdir(), 'dan-demo-elf-')),
    });
    say(`dan demo: Redis ${redisServer.baseUrl} (private, with passwords), workspace ${workspace}, ELF memory ${config.elf.dir}`);
    const { runNetwork } = await import('../../main/run-network.js');
    const network = await runNetwork({
      config, logger, redisUrl: redisServer.url, agentRedisUrl: redisServer.agentUrl,
      onEvent: (event) => { const text = describeEvent(event); if (text) say(colourFor('supervisor', text)); },
      ...(argv.verbose ? { onAgentLine: (_id: string, line: string) => say(dim(line)) } : {}),
    });
    say(`model: ${network.model.description}`);
    const redis = await connectRedis(redisServer.url, { failFast: true });
    try {
      const keys = new Keys('');
      const { taskId } = await submitTask(redis, keys, { domain: 'main', description: argv.task, source: 'demo', timeoutSeconds: 120 });
      say(`sent to main: "${argv.task}" (task ${taskId})`);
      const result = await followTask(redis, keys, taskId, {
        timeoutMs: 180_000,
        children: true,
        onLine: (line, id) => say(`${colourFor(id, id === taskId ? 'main    ' : id.slice(taskId.length + 1).padEnd(8))} ${line}`),
      });
      if (!result) throw new DanError('demo_failed', 'the demo task produced no result');
      const files = [...((result.output?.['files_created'] as string[] | undefined) ?? []), ...((result.output?.['files_modified'] as string[] | undefined) ?? [])];
      if (argv.json) printJson({ task_id: taskId, status: result.status, output: result.output ?? null, error: result.error ?? null, workspace });
      else {
        process.stdout.write(`\n${describeResult(result)}\n\nfiles in ${workspace}:\n${preview(workspace, files)}\n`);
      }
      if (result.status !== 'completed') process.exitCode = ExitCode.failed;
    } finally {
      redis.disconnect();
      say('shutting down the network');
      await network.stop();
      await redisServer.stop();
      rmSync(redisDir, { recursive: true, force: true });
    }
  },
};
