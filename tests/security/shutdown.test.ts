import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { urlForRole } from '../../lib/redis/acl.js';
import { connectRedis, type Redis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { freePort, redisServerOnPath } from '../../src/cli/local-redis.js';
import { REDIS_AUTH_FILE, type RedisAuth } from '../../src/cli/redis-auth-file.js';
import { processGone, sleepRuns } from '../support/run-process.js';
import { until } from '../support/until.js';

/**
 * The audit's shutdown run (row 84): SIGTERM to a `dan up` that started its own Redis, with the
 * process spawner and the default sandbox, after a model left background processes behind (ATKA04)
 * and while a command that started one is still running. Everything must stop: `dan up` exits 0,
 * its domain processes and its redis-server are gone, and no process a command started survives.
 */

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
// Durations no other test uses, so that a `sleep` found on this machine can only be this test's.
const seconds = Array.from({ length: 4 }, (_, i) => 70_000 + i * 1_000 + Math.floor(Math.random() * 1_000));
const [escaped, subshell, heldEscaped, held] = seconds as [number, number, number, number];
const RULES = [
  // ATKA04, word for word but for the durations.
  { name: 'ATKA04', when: { system: '^\\s*Worker:', anyText: '^Task: ATKA04\\b', hasToolResult: false }, reply: { tool_use: [{ name: 'Bash', input: { command: `setsid nohup sleep ${escaped} >/dev/null 2>&1 < /dev/null & (sleep ${subshell} &) ; echo started` } }] } },
  // The same escape from a command that is still running when dan up is told to stop.
  { name: 'ATKA04-held', when: { system: '^\\s*Worker:', anyText: '^Task: HELD\\b', hasToolResult: false }, reply: { tool_use: [{ name: 'Bash', input: { command: `setsid nohup sleep ${heldEscaped} >/dev/null 2>&1 < /dev/null & sleep ${held}` } }] } },
];

let dir: string | undefined;
let up: ChildProcess | undefined;
let redis: Redis | undefined;
afterAll(async () => {
  redis?.disconnect();
  if (up && up.exitCode === null && up.signalCode === null) up.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe.skipIf(!redisServerOnPath())('SIGTERM to dan up (audit row 84)', () => {
  it('[audit #84] stops dan up, its domains, its private Redis and every process a sandboxed command started', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dan-stop-'));
    writeFileSync(path.join(dir, 'rules.json'), JSON.stringify(RULES));
    const port = await freePort();
    let log = '';
    up = spawn(process.execPath, [bin, 'up'], {
      cwd: dir,
      env: {
        PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: `redis://127.0.0.1:${port}`,
        DAN_KEY_PREFIX: '', ANTHROPIC_API_KEY: '', DAN_LLM: 'local', DAN_MOCK_LLM_RULES: path.join(dir, 'rules.json'),
        DAN_WORKSPACE: path.join(dir, 'ws'), DAN_ELF_DIR: path.join(dir, 'elf'), DAN_SHUTDOWN_GRACE_MS: '2000',
      },
    });
    up.stdout?.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    up.stderr?.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => up?.once('exit', (code) => resolve(code)));
    await until('dan up to be up', async () => log.includes('network up') || up?.exitCode !== null, 60_000);
    expect(log).toContain('network up');

    const auth = JSON.parse(readFileSync(path.join(dir, REDIS_AUTH_FILE), 'utf8')) as RedisAuth;
    redis = await connectRedis(urlForRole(auth.url, 'admin', auth.passwords.admin), { failFast: true });
    const keys = new Keys('');
    const first = await submitTask(redis, keys, { domain: 'backend', description: 'ATKA04 api endpoint' });
    expect(await until('ATKA04 to end', async () => redis?.hget(keys.result(first.taskId), 'status').then((s) => (s === 'completed' || s === 'failed' ? s : undefined)), 60_000)).toBe('completed');
    const second = await submitTask(redis, keys, { domain: 'backend', description: 'HELD api endpoint' });
    await until('the held command and what it left in the background to run', async () => sleepRuns(held) && sleepRuns(heldEscaped), 60_000);
    expect(await redis.hget(keys.result(second.taskId), 'status')).toBe('in_progress');
    const agents = await redis.smembers(keys.agentsAll());
    const pids = (await Promise.all(agents.map((id) => redis!.hget(keys.agentInfo(id), 'pid')))).map(Number).filter((pid) => pid > 0 && pid !== up?.pid);
    expect(pids.length).toBeGreaterThan(0);
    redis.disconnect();
    redis = undefined;

    up.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of pids) expect(processGone(pid), `domain process ${pid} stopped`).toBe(true);
    expect(processGone(auth.pid), 'the private redis-server stopped').toBe(true);
    expect(existsSync(path.join(dir, REDIS_AUTH_FILE))).toBe(false);
    for (const s of seconds) expect(sleepRuns(s), `sleep ${s} still runs`).toBe(false);
  }, 180_000);
});
