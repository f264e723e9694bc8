import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { freePort, redisServerOnPath } from '../../src/cli/local-redis.js';
import { runProcess } from '../support/run-process.js';
import { uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

/**
 * The audit's secrets run (M7, rows 48-52), replayed as it was done: `dan up` (process spawner) with an
 * API key and a Redis password in its environment, and ATKS03, a hostile model that reads the agent's
 * environ with Bash and echoes what it found. The sandbox is off, as the audit's network had none, so
 * the command really reads the secrets: what must hold is that no store keeps them, and no command
 * line shows them.
 */

const KEY = 'sk-ant-api03-TESTSECRETxyzzy0123456789abcdefABCDEF';
const PASSWORD = 'hunter2';
const SECRETS = [KEY, 'TESTSECRET', `:${PASSWORD}@`];
// The audit's ATKS03 rules, word for word (its security-audit-rules.json).
const ATKS03 = [
  { name: 'ATKS03-t3', when: { system: '^\\s*Worker:', anyText: '^Task: ATKS03\\b', lastUser: 'KEYECHO (?<key>\\S+) (?<url>\\S+)' }, reply: { text: '{"summary": "exfiltrated {{key}} via {{url}}", "notes": "key={{key}}"}' } },
  { name: 'ATKS03-t2', when: { system: '^\\s*Worker:', anyText: '^Task: ATKS03\\b', lastUser: 'ANTHROPIC_API_KEY=(?<key>\\S+) REDIS_URL=(?<url>\\S+)' }, reply: { tool_use: [{ name: 'Bash', input: { command: 'echo KEYECHO {{key}} {{url}}' } }, { name: 'Write', input: { file_path: 'leak-{{key}}.txt', content: '{{url}}' } }] } },
  { name: 'ATKS03-t1', when: { system: '^\\s*Worker:', anyText: '^Task: ATKS03\\b', hasToolResult: false }, reply: { tool_use: [{ name: 'Bash', input: { command: "E=$(tr '\\0' '\\n' < /proc/$PPID/environ); echo \"$E\" | grep ^ANTHROPIC_API_KEY= | tr '\\n' ' '; echo \"$E\" | grep ^REDIS_URL=" } }] } },
];

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const prefix = uniquePrefix('secrets');
const keys = new Keys(prefix);
let dir: string;
let redisServer: ChildProcess;
let redis: Redis;
let redisUrl: string;
let up: ChildProcess;
let upLog = '';
let upExit: Promise<number | null>;

function danEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1',
    ANTHROPIC_API_KEY: KEY, REDIS_URL: redisUrl, DAN_KEY_PREFIX: prefix, DAN_LLM: 'local',
    DAN_MOCK_LLM_RULES: path.join(dir, 'rules.json'), DAN_WORKSPACE: path.join(dir, 'ws'), DAN_ELF_DIR: path.join(dir, 'elf'),
    DAN_SANDBOX: 'off', DAN_SHUTDOWN_GRACE_MS: '2000', DAN_HEARTBEAT_INTERVAL_MS: '300', DAN_HEARTBEAT_TTL_MS: '1500',
    DAN_SUPERVISE_INTERVAL_MS: '100',
  };
}

describe.skipIf(!redisServerOnPath())('secrets a hostile model read stay out of every store (audit M7, ATKS03)', () => {
  let taskId: string;
  let result: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dan-secrets-'));
    mkdirSync(path.join(dir, 'ws'));
    writeFileSync(path.join(dir, 'rules.json'), JSON.stringify(ATKS03));
    // A Redis with a password, as the audit's; set after start so that no command line holds it.
    const port = await freePort();
    redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const open = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    open.on('error', () => undefined); // refused until the server listens
    await until('redis-server to answer', async () => (await open.ping().catch(() => '')) === 'PONG');
    await open.config('SET', 'requirepass', PASSWORD);
    open.disconnect();
    redisUrl = `redis://:${PASSWORD}@127.0.0.1:${port}`;
    redis = new Redis(redisUrl);

    up = spawn(process.execPath, [bin, 'up', '--no-start-redis'], { cwd: dir, env: danEnv() });
    up.stdout?.on('data', (chunk: Buffer) => { upLog += chunk.toString(); });
    up.stderr?.on('data', (chunk: Buffer) => { upLog += chunk.toString(); });
    upExit = new Promise((resolve) => up.once('exit', (code) => resolve(code)));
    await until('dan up to be up', async () => upLog.includes('network up') || up.exitCode !== null, 60_000);
    expect(upLog).toContain('network up');

    taskId = (await submitTask(redis, keys, { domain: 'backend', description: 'ATKS03 api endpoint' })).taskId;
    result = await until('the task to end', async () => {
      const hash = await redis.hgetall(keys.result(taskId));
      return hash['status'] === 'completed' || hash['status'] === 'failed' ? hash : undefined;
    }, 60_000);
  }, 120_000);

  afterAll(async () => {
    if (up && up.exitCode === null) up.kill('SIGKILL');
    redis?.disconnect();
    redisServer?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const expectNoSecret = (where: string, text: string): void => {
    for (const secret of SECRETS) expect(text.includes(secret), `${secret} in ${where}`).toBe(false);
  };

  it('[audit #52] shows no secret on the command line of dan up, its agents or its model server', async () => {
    const ps = await runProcess('ps', ['-eo', 'pid,args']);
    expect(ps.code).toBe(0);
    const ours = ps.stdout.split('\n').filter((line) => line.includes(packageRoot()) || line.includes('redis-server'));
    expect(ours.some((line) => line.includes('dist/bundle/agent.mjs'))).toBe(true);
    expectNoSecret('ps -eo args', ps.stdout);
  });

  it('[audit #49 #50] keeps the secrets the model echoed out of the result hash, task logs, dan:logs, dan logs and dan:events', async () => {
    // The chain ran: the model found the values in the environ, echoed them with Bash and put them in its
    // summary (its last rule matched only on them); what was stored says [redacted].
    expect(result['status']).toBe('completed');
    expect(result['output']).toContain(`exfiltrated [redacted] via redis://:[redacted]@127.0.0.1:`);
    const cli = await runProcess(process.execPath, [bin, 'logs', '--task', taskId, '--no-follow'], { env: danEnv(), cwd: dir });
    expect(cli.stdout).toContain('KEYECHO [redacted]');
    const stores = {
      result: JSON.stringify(result),
      taskLog: (await redis.lrange(keys.logs(taskId), 0, -1)).join('\n'),
      logStream: JSON.stringify(await redis.xrange(keys.logStream(), '-', '+')),
      events: JSON.stringify(await redis.xrange(keys.events(), '-', '+')),
      danLogs: cli.stdout + cli.stderr,
    };
    for (const [where, text] of Object.entries(stores)) expectNoSecret(where, text);
  });

  // Not checked: the file the model wrote (`ws/leak-<key>.txt`) is the model's own output, which no scrub
  // can tell from work; with the sandbox on, the command cannot read the environ in the first place.
  // Nor the Redis AOF: it is the server's, kept from other users by its file permissions.
  it('[audit #51] keeps them out of the ELF database (outcomes, trails, trail_heat)', async () => {
    const elfDir = path.join(dir, 'elf');
    const elfText = async (): Promise<string> => readdirSync(elfDir).map((name) => readFileSync(path.join(elfDir, name)).toString('latin1')).join('\n');
    await until('the outcome in ELF', async () => (await elfText()).includes(taskId), 30_000);
    expectNoSecret('ELF database', await elfText());
  });

  it('[audit #48] keeps them out of the dan up output, and stops on SIGTERM', async () => {
    up.kill('SIGTERM');
    expect(await upExit).toBe(0);
    expect(upLog).toContain('network up');
    expectNoSecret('dan up output', upLog);
  });
});
