import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { urlForRole, type RedisRole } from '../../lib/redis/acl.js';
import { connectRedis, type Redis } from '../../lib/redis/connection.js';
import { REDIS_AUTH_FILE, type RedisAuth } from '../../src/cli/redis-auth-file.js';
import { freePort, redisServerOnPath } from '../../src/cli/local-redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

/**
 * The private Redis `dan up` starts is never open (audit C1): every connection needs a password,
 * the passwords sit in a file only its user reads, other `dan` commands in the folder find it with
 * no REDIS_URL, and each kind of user (main, agent, client, viewer) may do only its part. The
 * network runs whole (main, its domains, the ELF memory) with the domains and ELF on the restricted
 * `agent` user, which cannot reach the model gateway's tokens.
 */

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
let dir: string;
let port: number;
let up: ChildProcess;
let upLog = '';
let upExit: Promise<number | null>;
const opened: Redis[] = [];

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', DAN_LOG_FORMAT: 'json',
    DAN_KEY_PREFIX: '', ANTHROPIC_API_KEY: '', DAN_LLM: 'local', DAN_ELF: 'on',
    DAN_WORKSPACE: path.join(dir, 'workspace'), DAN_SHUTDOWN_GRACE_MS: '3000', ...extra,
  };
}

const auth = (): RedisAuth => JSON.parse(readFileSync(path.join(dir, REDIS_AUTH_FILE), 'utf8')) as RedisAuth;

async function as(role: RedisRole): Promise<Redis> {
  const redis = await connectRedis(urlForRole(auth().url, role, auth().passwords[role]), { failFast: true });
  opened.push(redis);
  return redis;
}

const refusal = (promise: Promise<unknown>): Promise<string> => promise.then(() => 'allowed', (error: Error) => error.message);

describe.skipIf(!redisServerOnPath())("dan up's private Redis", () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dan-private-redis-'));
    port = await freePort();
    // Nothing answers at REDIS_URL, so `dan up` starts its own redis-server there.
    up = spawn(process.execPath, [bin, 'up'], { cwd: dir, env: env({ REDIS_URL: `redis://127.0.0.1:${port}` }) });
    up.stdout?.on('data', (chunk: Buffer) => { upLog += chunk.toString(); });
    up.stderr?.on('data', (chunk: Buffer) => { upLog += chunk.toString(); });
    upExit = new Promise((resolve) => up.once('exit', (code) => resolve(code)));
    await until('dan up to be up', async () => upLog.includes('network up') || up.exitCode !== null, 60_000);
    expect(upLog).toContain('network up');
  }, 90_000);

  afterAll(async () => {
    for (const redis of opened) redis.disconnect();
    up.kill('SIGTERM');
    const code = await upExit;
    expect(code).toBe(0);
    // The passwords leave with the server.
    expect(existsSync(path.join(dir, REDIS_AUTH_FILE))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('keeps the passwords in a file only its user can read, and prints none of them', () => {
    const file = path.join(dir, REDIS_AUTH_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    for (const password of Object.values(auth().passwords)) expect(upLog).not.toContain(password);
  });

  it("refuses a connection without a password: the audit's raw LPUSH of a farm task (C1) fails", async () => {
    const task = JSON.stringify({ task_id: 'nobody-rce', payload: { description: 'Fix every lint error', context: { path: dir, problems_command: `id > ${dir}/nobody-rce.txt; exit 1` } } });
    const push = await runProcess('redis-cli', ['-p', String(port), 'LPUSH', 'tasks:pending:farm', task], { env: { PATH: process.env['PATH'] } });
    expect(push.stdout + push.stderr).toMatch(/NOAUTH/);
    expect(await (await as('admin')).llen('tasks:pending:farm')).toBe(0);
    const open = await runProcess(process.execPath, [bin, 'agents', '-r', `redis://127.0.0.1:${port}`], { cwd: os.tmpdir(), env: env() });
    expect(open.code).toBe(3);
    expect(open.stderr).toMatch(/requires a password/);
  });

  it('lets `dan send --wait` in the same folder find it through the file, with no REDIS_URL set', async () => {
    const sent = await runProcess(process.execPath, [bin, 'send', 'main', 'Create a health endpoint', '--wait', '-t', '120'], { cwd: dir, env: env(), timeoutMs: 120_000 });
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/completed/);
    for (const password of Object.values(auth().passwords)) expect(sent.stdout + sent.stderr).not.toContain(password);
    // The submit script indexed it as the client user, which `dan tasks` reads it as.
    const listed = await runProcess(process.execPath, [bin, 'tasks', '-q', 'health endpoint', '--json'], { cwd: dir, env: env() });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).tasks).toEqual(expect.arrayContaining([expect.objectContaining({ status: 'completed', description: 'Create a health endpoint' })]));
  }, 150_000);

  it('lets a client submit and read, and nothing else', async () => {
    const client = await as('client');
    expect(await client.hset('results:acl-check', 'status', 'pending')).toBe(1);
    expect(await client.lpush('tasks:pending:acl-check', '{}')).toBe(1);
    expect(await client.hgetall('results:acl-check')).toEqual({ status: 'pending' });
    expect(await refusal(client.flushall())).toMatch(/NOPERM/);
    expect(await refusal(client.call('CONFIG', 'GET', 'dir'))).toMatch(/NOPERM/);
    expect(await refusal(client.sadd('agents:all', 'impostor'))).toMatch(/NOPERM/);
    expect(await refusal(client.del('tasks:pending:acl-check'))).toMatch(/NOPERM/);
    // A script runs with the client's rights: it cannot do through EVAL what it cannot do itself.
    expect(await refusal(client.eval("return redis.call('SADD', KEYS[1], 'impostor')", 1, 'agents:all'))).toMatch(/NOPERM|can't run this command/);
    expect(await refusal(client.eval("return redis.call('FLUSHALL')", 0))).toMatch(/NOPERM|can't run this command/);
    expect(await (await as('admin')).sismember('agents:all', 'impostor')).toBe(0);
  });

  it('lets a viewer read and never write; keeps agents from the admin commands', async () => {
    const viewer = await as('viewer');
    expect(await viewer.hgetall('results:acl-check')).toEqual({ status: 'pending' });
    expect(await refusal(viewer.hset('results:acl-check', 'status', 'completed'))).toMatch(/NOPERM/);
    expect(await refusal(viewer.lpush('tasks:pending:main', '{}'))).toMatch(/NOPERM/);
    const agent = await as('agent');
    for (const command of [['FLUSHALL'], ['CONFIG', 'GET', 'dir'], ['KEYS', '*'], ['SHUTDOWN'], ['ACL', 'LIST'], ['MONITOR']]) {
      expect(await refusal(agent.call(command[0] as string, ...command.slice(1))), command.join(' ')).toMatch(/NOPERM/);
    }
  });

  it("keeps the model gateway's tokens from the agent user, which domains and ELF run on, and to main", async () => {
    const agent = await as('agent');
    const tokens = 'dan:gateway:tokens';
    const admin = await as('admin');
    const before = await admin.hgetall(tokens);
    // main issued a token to each domain agent it started: its own user writes there.
    expect(Object.keys(before).length).toBeGreaterThan(0);
    expect(await refusal(agent.hset(tokens, 'forged-hash', JSON.stringify({ agentId: 'impostor', issuedAt: 0 })))).toMatch(/NOPERM/);
    expect(await refusal(agent.sadd(tokens, 'forged-hash'))).toMatch(/NOPERM/);
    expect(await refusal(agent.del(tokens))).toMatch(/NOPERM/);
    expect(await refusal(agent.hgetall(tokens))).toMatch(/NOPERM/);
    expect(await refusal(agent.eval("return redis.call('HSET', KEYS[1], 'forged-hash', '{}')", 1, tokens))).toMatch(/NOPERM|can't run this command/);
    expect(await admin.hgetall(tokens)).toEqual(before);
    // What main alone writes, agents read and cannot change.
    expect(await agent.smembers('dan:agents:spawned')).not.toHaveLength(0);
    expect(await refusal(agent.sadd('dan:agents:spawned', 'impostor'))).toMatch(/NOPERM/);
    // The agents of the task above (backend, ELF) are connected as `agent`, main as `main`.
    const clients = String(await admin.call('CLIENT', 'LIST')).split('\n').filter(Boolean);
    const userOf = (name: RegExp): string[] => [...new Set(clients.filter((line) => name.test(/ name=(\S*)/.exec(line)?.[1] ?? '')).map((line) => / user=(\S*)/.exec(line)?.[1]))] as string[];
    expect(userOf(/^main-/)).toEqual(['main']);
    expect(userOf(/^(backend|elf)-/)).toEqual(['agent']);
  });

  it('completes a task sent straight to a domain, and ELF records its outcome, with agents on the restricted user', async () => {
    const sent = await runProcess(process.execPath, [bin, 'send', 'backend', 'Create a health endpoint', '--wait', '-t', '120'], { cwd: dir, env: env(), timeoutMs: 120_000 });
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/completed/);
    const stats = await until('ELF to record the outcomes', async () => {
      const run = await runProcess(process.execPath, [bin, 'elf', 'stats', '--json'], { cwd: dir, env: env() });
      const parsed = run.code === 0 ? JSON.parse(run.stdout) as { outcomes: { byStatus: Record<string, number> } } : undefined;
      return (parsed?.outcomes.byStatus['completed'] ?? 0) >= 2 ? parsed : undefined;
    }, 30_000);
    expect(stats.outcomes.byStatus['completed']).toBeGreaterThanOrEqual(2);
  }, 150_000);
});
