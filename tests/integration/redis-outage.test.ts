import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { freePort, startRedisServer, type LocalRedis } from '../../src/cli/local-redis.js';
import { until } from '../support/until.js';

/**
 * Redis goes away under a running network (`dan up` and the domain processes it spawned) and comes
 * back on the same port and data directory, with append-only persistence. The network must not
 * crash, must not restart its agents, and must finish every task queued before and sent after.
 */

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const SLOW_MS = 2_500;

let dir: string;
let port: number;
let server: LocalRedis | undefined;
let redis: Redis;
let up: ChildProcess;
let upLog = '';
let upExited: Promise<number | null>;

const spawnCount = () => upLog.split('\n').filter((line) => line.includes('"msg":"spawning domain agent"')).length;

function pushTask(domain: string, description: string, type?: string): Promise<string> {
  const taskId = randomUUID();
  const task = {
    task_id: taskId, type: type ?? 'task_assignment', source: 'test', destination: domain, timestamp: new Date().toISOString(),
    payload: { description, requirements: [], context: {} }, metadata: { priority: 'normal', timeout_seconds: 120 },
  };
  // What an outside client does (protocol.md): push the task and create its result hash.
  return redis.multi().lpush(`tasks:pending:${domain}`, JSON.stringify(task)).hset(`results:${taskId}`, 'task_id', taskId, 'status', 'pending').exec().then(() => taskId);
}

const statusOf = (taskId: string) => redis.hget(`results:${taskId}`, 'status');

async function waitCompleted(taskIds: string[], timeoutMs = 90_000): Promise<void> {
  await until(`${taskIds.length} tasks to end`, async () => {
    const statuses = await Promise.all(taskIds.map(statusOf));
    return statuses.every((s) => s === 'completed' || s === 'failed') ? statuses : undefined;
  }, timeoutMs);
  for (const taskId of taskIds) {
    const result = await redis.hgetall(`results:${taskId}`);
    expect(result['status'], `${taskId}: ${result['error'] ?? ''}`).toBe('completed');
  }
}

interface AgentSnapshot { id: string; role: string; domain: string; pid: number }

async function registeredAgents(): Promise<AgentSnapshot[]> {
  const ids = (await redis.smembers('agents:all')).sort();
  const agents: AgentSnapshot[] = [];
  for (const id of ids) {
    const info = await redis.hgetall(`agents:info:${id}`);
    agents.push({ id, role: info['role'] ?? '', domain: info['domain_type'] ?? '', pid: Number(info['pid']) });
  }
  return agents;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portClosed(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(false); });
    socket.once('error', () => resolve(true));
  });
}

async function startServer(): Promise<void> {
  server = await startRedisServer(port, silentLogger, path.join(dir, 'redis'));
}

/** Stops Redis the way an operator (SIGTERM) or a crash (SIGKILL) does, and waits until the port is closed. */
async function stopServer(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (signal === 'SIGTERM') {
    await server?.stop();
  } else {
    const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
    process.kill(pid, 'SIGKILL');
  }
  await until('the Redis port to close', () => portClosed(), 10_000);
  server = undefined;
}

/** Everything the agents must show after an outage: same processes, registered, heartbeating, serving. */
async function expectSameNetwork(before: AgentSnapshot[], spawnsBefore: number): Promise<void> {
  await until('every agent to heartbeat again', async () => {
    const beats = await Promise.all(before.map((a) => redis.exists(`agents:heartbeat:${a.id}`)));
    return beats.every((b) => b === 1);
  }, 30_000);
  // Workers register for the task they run and go with it (one may be running the --wait sender's
  // task now): the agents that must be the same are the long-lived ones.
  const lasting = (agents: AgentSnapshot[]) => agents.filter((a) => a.role !== 'worker').map((a) => a.id);
  const after = await registeredAgents();
  expect(lasting(after)).toEqual(lasting(before));
  for (const agent of before) expect(processAlive(agent.pid), `${agent.id} (pid ${agent.pid}) still runs`).toBe(true);
  const spawns = upLog.split('\n').filter((line) => /"msg":"(spawning domain agent|domain agent ready|swept|redis connection)/.test(line));
  expect(spawnCount(), `dan up spawned again after the outage:\n${spawns.join('\n')}`).toBe(spawnsBefore);
  expect(await redis.get('agents:main')).toBe(before.find((a) => a.role === 'main')?.id);
  expect(up.exitCode).toBeNull();
}

/** A `dan` command against the network's Redis, its output collected as it comes. */
function startCli(args: string[]) {
  const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: `redis://127.0.0.1:${port}` } });
  const state = { child, out: '', exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout.on('data', (chunk: Buffer) => { state.out += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { state.out += chunk.toString(); });
  return state;
}

/** Sends a task right after Redis answers again and reports how long until it completed (logged, not asserted). */
async function timeToResume(label: string, backAt: number): Promise<void> {
  const taskId = await pushTask('main', `after the ${label} outage`, 'echo');
  await waitCompleted([taskId]);
  const completedAt = Date.parse((await redis.hget(`results:${taskId}`, 'completed_at')) ?? '');
  console.log(`redis outage (${label}): a task sent when Redis answered again completed ${completedAt - backAt} ms later`);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dan-outage-'));
  port = await freePort();
  await startServer();
  redis = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: null, retryStrategy: () => 100 });
  redis.on('error', () => undefined);
  const rules = path.join(dir, 'rules.json');
  // Slow workers: tasks are in flight (and more wait in the queue) when Redis goes away.
  writeFileSync(rules, JSON.stringify([{ name: 'slow', when: { anyText: 'slowjob', hasToolResult: false, tool: 'Glob' }, reply: { tool_use: [{ name: 'Glob', input: { pattern: '**/*' } }], delay_ms: SLOW_MS } }]));
  up = spawn(process.execPath, [bin, 'up', '--no-start-redis'], {
    cwd: dir,
    env: {
      PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', DAN_LOG_FORMAT: 'json',
      REDIS_URL: `redis://127.0.0.1:${port}`, DAN_KEY_PREFIX: '', ANTHROPIC_API_KEY: '', DAN_LLM: 'local', DAN_MOCK_LLM_RULES: rules,
      DAN_WORKSPACE: path.join(dir, 'workspace'), DAN_ELF_DIR: path.join(dir, 'elf'),
      // A 3 s heartbeat expiry: the long outage below outlasts it four times, as a real one outlasts 30 s.
      DAN_HEARTBEAT_INTERVAL_MS: '500', DAN_HEARTBEAT_TTL_MS: '3000', DAN_SUPERVISE_INTERVAL_MS: '200',
      DAN_MAX_INSTANCES_PER_DOMAIN: '1', DAN_DOMAIN_CONCURRENCY: '8', DAN_DOMAIN_IDLE_MS: '600000', DAN_SHUTDOWN_GRACE_MS: '5000',
      // Commands unconfined, so dan up gives its start-up warning about Bash on the host (no worker here runs Bash).
      DAN_SANDBOX: 'off',
      // Coders only, as the other test networks: no tester or reviewer turns in the slow tasks.
      DAN_ROLES: 'coder,docs',
    },
  });
  upExited = new Promise((resolve) => up.once('exit', (code) => resolve(code)));
  up.stderr?.on('data', (chunk: Buffer) => { upLog += chunk.toString(); });
  up.stdout?.on('data', (chunk: Buffer) => { upLog += chunk.toString(); });
  await until('dan up to be up', async () => upLog.includes('network up'), 60_000);
  // Domains run as processes here with the sandbox off, so dan up warns once that their Bash is not contained.
  expect(upLog.split('\n').filter((line) => line.includes('workers with Bash run as processes on this host'))).toHaveLength(1);
  expect(upLog).toMatch(/\(domains: backend, devops, [a-z, ]*frontend\).*set DAN_SPAWNER=docker/);
  // Warm up: the backend domain and the resident ELF memory are running before the first outage.
  await waitCompleted([await pushTask('backend', 'warm up', 'echo')]);
  await until('the elf domain to heartbeat', async () => (await registeredAgents()).some((a) => a.domain === 'elf'), 30_000);
}, 120_000);

afterAll(async () => {
  up?.kill('SIGTERM');
  const code = await Promise.race([upExited, new Promise((resolve) => setTimeout(() => resolve('timeout'), 20_000))]);
  if (code === 'timeout') up.kill('SIGKILL');
  redis?.disconnect();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('a Redis outage under a running network', () => {
  it('survives a SIGTERMed Redis: same agents, queued and in-flight tasks complete, new work runs', async () => {
    const before = await registeredAgents();
    expect(before.map((a) => a.role).sort()).toEqual(['domain', 'domain', 'main']);
    const spawnsBefore = spawnCount();
    const queued = await Promise.all([1, 2, 3, 4, 5].map((n) => pushTask('backend', `slowjob ${n}: list the files`)));
    await until('slow tasks to be in flight', async () => (await Promise.all(queued.map(statusOf))).filter((s) => s === 'in_progress').length >= 2);
    // Queued, most likely not yet taken, when Redis goes away.
    queued.push(...await Promise.all([1, 2, 3].map((n) => pushTask('main', `queued ${n} before the outage`, 'echo'))));
    await stopServer('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await startServer();
    const backAt = Date.now();
    await timeToResume('SIGTERM, 1 s', backAt);
    await waitCompleted(queued);
    await expectSameNetwork(before, spawnsBefore);
  }, 180_000);

  it('survives a SIGKILLed Redis down longer than the heartbeat expiry: agents come back registered, not replaced; waiting clients carry on', async () => {
    const before = await registeredAgents();
    const spawnsBefore = spawnCount();
    const queued = await Promise.all([1, 2, 3, 4, 5].map((n) => pushTask('backend', `slowjob ${n} again: list the files`)));
    await until('slow tasks to be in flight', async () => (await Promise.all(queued.map(statusOf))).filter((s) => s === 'in_progress').length >= 2);
    queued.push(...await Promise.all([1, 2, 3].map((n) => pushTask('main', `queued ${n} before the crash`, 'echo'))));
    // Clients waiting across the outage: a follower of the log stream, and a sender waiting for its task.
    const follower = startCli(['logs', '--follow', '--source', 'redis']);
    const waiter = startCli(['send', 'backend', 'slowjob sent with --wait: list the files', '--wait', '-t', '120']);
    await until('the sender to have queued its task', async () => waiter.out.includes('queued'));
    await until('the follower to be following (it shows the recent lines first)', async () => follower.out.includes('claimed'));
    await stopServer('SIGKILL');
    // 12 s: four times the heartbeat expiry, and longer than a command waits for a reconnect (about
    // 10 s), so the clients must wait it out by themselves.
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    await startServer();
    const backAt = Date.now();
    // Append-only persistence: nothing queued before the crash is lost.
    for (const taskId of queued) expect(await redis.exists(`results:${taskId}`)).toBe(1);
    await timeToResume('SIGKILL, 12 s', backAt);
    await waitCompleted(queued);
    await expectSameNetwork(before, spawnsBefore);
    expect(await waiter.exited, waiter.out).toBe(0);
    expect(waiter.out).toMatch(/status: completed/);
    await until('the log follower to show a line written after the outage', async () => follower.out.includes('after the SIGKILL')).catch((error: Error) => { throw new Error(`${error.message}; it printed: ${follower.out.slice(-3000)}`); });
    expect(follower.child.exitCode).toBeNull();
    follower.child.kill('SIGTERM');
    expect(upLog).not.toMatch(/"msg":"swept an agent whose heartbeat lapsed"/);
  }, 180_000);

  it('dan up still stops cleanly afterwards: exit 0, nothing left registered', async () => {
    up.kill('SIGTERM');
    expect(await upExited).toBe(0);
    expect(await redis.scard('agents:all')).toBe(0);
    expect(await redis.keys('agents:heartbeat:*')).toEqual([]);
  }, 60_000);
});
