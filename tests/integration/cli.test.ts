import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { COMMAND_HEADINGS } from '../../src/cli/command-headings.js';
import { freePort } from '../../src/cli/local-redis.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';

const root = packageRoot();
const bin = path.join(root, 'dist/bundle/cli.mjs');
let network: TestNetwork;

const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => cliEnv(network, extra);

const run = (program: string, args: string[], childEnv: NodeJS.ProcessEnv) => runProcess(program, args, { env: childEnv, timeoutMs: 90_000 });

const dan = (args: string[], extra: Record<string, string> = {}) => run(process.execPath, [bin, ...args], env(extra));
const script = (name: string, args: string[], extra: Record<string, string> = {}) =>
  run('bash', [path.join(root, 'scripts', name), ...args], env({ DAN_BIN: bin, ...extra }));

beforeAll(async () => { network = await startTestNetwork(); });
afterAll(async () => { await network.stop(); });

describe('dan CLI', () => {
  it('sends to a domain, waits with progress, and exits 0 when the task completes', async () => {
    const run = await dan(['send', 'backend', 'Create a health endpoint', '-p', 'high', '-t', '120', '--wait']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/claimed task \(attempt 1 of 3, priority high\)/);
    expect(run.stdout).toMatch(/completed \(backend\)/);
    expect(run.stdout).toMatch(/\+ src\/api\//);
  });

  it('prints the task id, then status --json and logs --task show it', async () => {
    const sent = await dan(['send', 'main', 'say hello', '--type', 'echo']);
    expect(sent.code).toBe(0);
    const taskId = sent.stdout.trim();
    expect(taskId).toMatch(/^[0-9a-f-]{36}$/);
    await network.waitFor(taskId);
    const status = await dan(['status', taskId, '--json']);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout);
    expect(parsed).toMatchObject({ task_id: taskId, status: 'completed', domain: 'main' });
    expect(parsed.output.echo.description).toBe('say hello');
    expect(parsed.children).toEqual([{ task_id: expect.stringMatching(new RegExp(`^${taskId}-(backend|devops|frontend)$`)), status: 'completed' }]);
    const logs = await dan(['logs', '--task', taskId, '--no-follow']);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/routed/);
    expect(logs.stdout).toMatch(/completed in \d+ ms/);
  });

  it('shows where the sub-tasks of a running parent stand', async () => {
    const { redis, keys } = network;
    await redis.hset(keys.result('parent-live'), 'task_id', 'parent-live', 'status', 'in_progress', 'domain', 'main');
    await redis.set(keys.plan('parent-live'), JSON.stringify({ steps: [{ domain: 'backend' }, { domain: 'frontend' }] }));
    await redis.hset(keys.result('parent-live-backend'), 'task_id', 'parent-live-backend', 'status', 'in_progress');
    const run = await dan(['status', 'parent-live']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('sub-task parent-live-backend: in_progress');
    expect(run.stdout).toContain('sub-task parent-live-frontend: not queued yet');
  });

  it('lists the main orchestrator and the queues in dan agents --json', async () => {
    const run = await dan(['agents', '--json']);
    expect(run.code).toBe(0);
    const parsed = JSON.parse(run.stdout);
    expect(parsed.agents.some((a: { role: string; alive: boolean }) => a.role === 'main' && a.alive)).toBe(true);
    expect(parsed.queues.map((q: { domain: string }) => q.domain)).toEqual(['main', 'backend', 'devops', 'elf', 'farm', 'frontend']);
  });

  it('exits 1 from send --wait when the task fails, with the reason (a workspace outside the jail)', async () => {
    const run = await dan(['send', 'backend', 'Create a health endpoint', '-c', '{"workspace": "../../etc"}', '--wait']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/failed \(backend\)/);
    expect(run.stdout).toMatch(/error: .*resolves outside the workspace/);
  });

  it('refuses to start a second main orchestrator on the same Redis and prefix', async () => {
    const run = await dan(['up', '--no-start-redis']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/a main orchestrator \(main-[0-9a-f]{8}\) is already running on this Redis/);
  });

  it('refuses an unknown domain with exit 2, naming the known ones', async () => {
    const run = await dan(['send', 'marketing', 'write a slogan']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown domain 'marketing'; known domains: main, backend, devops, elf, farm, frontend");
  });

  it('rejects a context that is not a JSON object and a negative timeout with exit 2', async () => {
    const bad = await dan(['send', 'backend', 'x', '-c', '[1, 2]']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--context must be a JSON object/);
    const negative = await dan(['send', 'backend', 'x', '-t', '-5']);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toMatch(/--timeout must be a positive number of seconds/);
  });

  it('refuses a timeout over 7 days, attempts over 20 and a description over its cap with exit 2 [audit #36 #37]', async () => {
    const long = await dan(['send', 'backend', 'x', '-t', '3000000']);
    expect(long.code).toBe(2);
    expect(long.stderr).toContain('--timeout must be at most 604800 seconds (7 days), got 3000000');
    const attempts = await dan(['send', 'backend', 'x', '--max-attempts', '1000000000']);
    expect(attempts.code).toBe(2);
    expect(attempts.stderr).toContain('--max-attempts must be at most 20, got 1000000000');
    const big = await dan(['send', 'backend', 'y'.repeat(200)], { DAN_MAX_DESCRIPTION_BYTES: '100' });
    expect(big.code).toBe(2);
    expect(big.stderr).toContain('payload.description is 200 bytes, over the 100-byte limit (DAN_MAX_DESCRIPTION_BYTES); send less, or raise DAN_MAX_DESCRIPTION_BYTES');
  });

  it('says which Redis URL did not answer and exits 3', async () => {
    const run = await dan(['send', 'backend', 'x'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('REDIS_URL is not reachable (redis://127.0.0.1:1)');
  });

  it('lists every command in --help, and each command (loaded only when it runs) has its own --help', async () => {
    const top = await dan(['--help']);
    expect(top.code).toBe(0);
    for (const { command } of Object.values(COMMAND_HEADINGS)) {
      const name = command.split(' ')[0] as string;
      expect(top.stdout, name).toContain(`dan ${command}`);
      const run = await dan([name, '--help']);
      expect(run.code, name).toBe(0);
      expect(run.stdout).toContain(`dan ${name}`);
      expect(run.stdout).toContain('--help');
    }
  });

  it('send-task.sh takes seed 003 options and keeps quotes in the description intact', async () => {
    const description = 'Log "hello" and it\'s {braces} too';
    const run = await script('send-task.sh', ['frontend', description, '--priority', 'low', '--timeout', '60', '--context', '{"path": "src"}']);
    expect(run.code, run.stderr).toBe(0);
    const taskId = run.stdout.trim();
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('completed');
    const logs = await network.redis.lrange(network.keys.logs(taskId), 0, -1);
    expect(logs.join('\n')).toContain(description);
  });

  it('tail-logs.sh maps seed 003 options onto dan logs', async () => {
    const run = await script('tail-logs.sh', ['--domains', '--no-follow', '-n', '50']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/claimed/);
    expect(run.stdout).toMatch(/completed in \d+ ms/);
    expect(run.stdout).not.toMatch(/^main-/m);
  });

  it('dan demo runs the whole network on a private Redis and reports the files written', async () => {
    const run = await dan(['demo', '--json'], { REDIS_URL: '', DAN_KEY_PREFIX: '', ANTHROPIC_API_KEY: '' });
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.status).toBe('completed');
    expect(report.output.domains_used).toEqual(['backend', 'frontend']);
    for (const file of report.output.files_created as string[]) expect(existsSync(path.join(report.workspace, file))).toBe(true);
    rmSync(report.workspace, { recursive: true, force: true });
  });

  it('dan up starts a private redis-server where REDIS_URL points, serves tasks, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'dan-up-'));
    const upEnv = env({ REDIS_URL: `redis://127.0.0.1:${port}`, DAN_KEY_PREFIX: '', DAN_WORKSPACE: path.join(cwd, 'workspace'), ANTHROPIC_API_KEY: '', DAN_LOG_FORMAT: 'json' });
    const up = spawn(process.execPath, [bin, 'up'], { cwd, env: upEnv });
    let log = '';
    up.stderr.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 400 && !log.includes('network up'); i++) await new Promise((r) => setTimeout(r, 25));
      expect(log).toContain('starting a private redis-server');
      expect(log).toContain('no ANTHROPIC_API_KEY: model answers are scripted');
      // In dan up's folder: its private Redis has passwords, which `dan` finds there.
      const sent = await runProcess(process.execPath, [bin, 'send', 'main', 'Add user registration: a POST /api/users endpoint and a signup form', '--wait', '--json'], { env: upEnv, cwd, timeoutMs: 90_000 });
      expect(sent.code, sent.stderr).toBe(0);
      expect(JSON.parse(sent.stdout).output.domains_used).toEqual(['backend', 'frontend']);
      expect(log).toMatch(/"msg":"domain orchestrator ready"/);
    } finally {
      up.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const after = await run(process.execPath, [bin, 'agents'], upEnv);
    expect(after.code).toBe(3);
    rmSync(cwd, { recursive: true, force: true });
  });

  it('a new dan up takes over from a main orchestrator that was killed without stopping', async () => {
    const port = await freePort();
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'dan-takeover-'));
    const upEnv = env({ REDIS_URL: `redis://127.0.0.1:${port}`, DAN_KEY_PREFIX: '', DAN_WORKSPACE: path.join(cwd, 'workspace'), ANTHROPIC_API_KEY: '', DAN_LOG_FORMAT: 'json' });
    const startUp = async () => {
      const child = spawn(process.execPath, [bin, 'up'], { cwd, env: upEnv });
      const state = { log: '', child, exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
      child.stderr.on('data', (chunk: Buffer) => { state.log += chunk.toString(); });
      for (let i = 0; i < 400 && !state.log.includes('network up') && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 25));
      return state;
    };
    const first = await startUp();
    expect(first.log).toContain('network up');
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startUp();
    try {
      expect(second.log).toContain('taking over');
      const sent = await runProcess(process.execPath, [bin, 'send', 'main', 'hello again', '--type', 'echo', '--wait'], { env: upEnv, cwd, timeoutMs: 90_000 });
      expect(sent.code, sent.stderr).toBe(0);
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      // The first run's private redis-server outlived its SIGKILLed parent: stop it, as its admin.
      const { passwords } = JSON.parse(readFileSync(path.join(cwd, '.dan', 'redis-auth.json'), 'utf8')) as { passwords: { admin: string } };
      await run('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { ...upEnv, REDISCLI_AUTH: passwords.admin });
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
