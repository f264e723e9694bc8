import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { freePort, startRedisServer } from '../../src/cli/local-redis.js';
import { parseRules, type Rule } from '../../lib/llm/local-server/rules.js';
import { Keys } from '../../lib/redis/keys.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { testRedisUrl, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';
import { processGone, startNode } from '../support/run-process.js';

/**
 * SIGTERM to any agent: it stops taking work, finishes or hands back what is in flight within
 * DAN_SHUTDOWN_GRACE_MS, deregisters and exits 0; and every task ends exactly once.
 */

const root = packageRoot();
const GRACE_MS = 4_000;

const slowRule = (word: string, delayMs: number): Rule => ({
  name: `slow-${word}`, when: { anyText: word, hasToolResult: false, tool: 'Glob' },
  reply: { tool_use: [{ name: 'Glob', input: { pattern: '**/*' } }], delay_ms: delayMs }, times: 1,
});

async function pushTask(redis: Redis, keys: Keys, domain: string, description: string, type = 'task_assignment'): Promise<string> {
  const taskId = randomUUID();
  const task = { task_id: taskId, type, payload: { description }, metadata: { timeout_seconds: 120 } };
  await redis.multi().lpush(keys.pending(domain), JSON.stringify(task)).hset(keys.result(taskId), 'task_id', taskId, 'status', 'pending').exec();
  return taskId;
}

/** How many times the task ended: `task.finished` events and "completed"/"failed" lines in its log. */
async function endings(redis: Redis, keys: Keys, taskId: string): Promise<number> {
  const events = (await redis.xrange(keys.events(), '-', '+')) as [string, string[]][];
  return events.filter(([, fields]) => fields.includes('task.finished') && fields[fields.indexOf('task_id') + 1] === taskId).length;
}

async function expectDeregistered(redis: Redis, keys: Keys, agentId: string): Promise<void> {
  expect(await redis.sismember(keys.agentsAll(), agentId)).toBe(0);
  expect(await redis.exists(keys.agentInfo(agentId), keys.heartbeat(agentId))).toBe(0);
  // Its workers too: nothing of the agent is left in the registry.
  const left = (await redis.smembers(keys.agentsAll())).filter((id) => id.startsWith(`${agentId}-`));
  expect(left).toEqual([]);
}

describe('graceful shutdown of domain and elf agents (processes spawned by a main orchestrator)', () => {
  let network: TestNetwork;

  beforeAll(async () => {
    network = await startTestNetwork({
      // Each agent in its own process: the tests signal them by pid.
      spawner: 'process',
      env: { DAN_SHUTDOWN_GRACE_MS: String(GRACE_MS), DAN_MAX_INSTANCES_PER_DOMAIN: '1' },
      // The slow rules first, then the built-in ones (a worker writes a file and answers in JSON).
      rules: parseRules([slowRule('handback', 60_000), slowRule('quickish', 1_000)], 'test').rules,
    });
  }, 60_000);
  afterAll(async () => { await network?.stop(); }, 60_000);

  /** Sends a slow task, SIGTERMs the domain agent running it, and returns what happened. */
  async function terminateMidTask(description: string) {
    const { redis, keys } = network;
    const taskId = await pushTask(redis, keys, 'backend', description);
    const agentId = await until('the task to run', async () => {
      const result = await redis.hgetall(keys.result(taskId));
      // A worker has started on it: the slow model call is under way.
      const workers = (await redis.smembers(keys.agentsWorkers())).filter((id) => id.startsWith(`${result['agent_id']}-`));
      return result['status'] === 'in_progress' && workers.length > 0 ? result['agent_id'] : undefined;
    });
    const pid = Number(await redis.hget(keys.agentInfo(agentId), 'pid'));
    process.kill(pid, 'SIGTERM');
    const exit = await until('the agent to exit', async () => network.events.find((e) => e.type === 'agent_exited' && e.agentId === agentId), 30_000);
    return { taskId, agentId, pid, exit };
  }

  it('hands back a task it cannot finish within the grace period: exit 0, deregistered, the task runs again once', async () => {
    const { redis, keys } = network;
    const { taskId, agentId, exit } = await terminateMidTask('handback: list the files');
    expect(exit).toMatchObject({ code: 0, signal: null });
    await expectDeregistered(redis, keys, agentId);
    await until('the handed-back task to complete', async () => (await redis.hget(keys.result(taskId), 'status')) === 'completed', 60_000);
    const result = await redis.hgetall(keys.result(taskId));
    expect(result['attempts']).toBe('2');
    expect(result['agent_id']).not.toBe(agentId);
    expect(await endings(redis, keys, taskId)).toBe(1);
  }, 120_000);

  it('finishes a task that ends within the grace period before exiting: completed by the same agent, attempt 1', async () => {
    const { redis, keys } = network;
    const { taskId, agentId, exit } = await terminateMidTask('quickish: list the files');
    expect(exit).toMatchObject({ code: 0, signal: null });
    const result = await redis.hgetall(keys.result(taskId));
    expect(result).toMatchObject({ status: 'completed', agent_id: agentId, attempts: '1' });
    await expectDeregistered(redis, keys, agentId);
    expect(await endings(redis, keys, taskId)).toBe(1);
  }, 120_000);

  it('stops the elf domain the same way: exit 0, deregistered', async () => {
    const { redis, keys } = network;
    const agentId = await until('the elf domain to run', async () => (await redis.smembers(keys.agentsOfDomain('elf')))[0]);
    const pid = Number(await until('its pid', async () => redis.hget(keys.agentInfo(agentId), 'pid')));
    process.kill(pid, 'SIGTERM');
    const exit = await until('elf to exit', async () => network.events.find((e) => e.type === 'agent_exited' && e.agentId === agentId), 30_000);
    expect(exit).toMatchObject({ code: 0, signal: null });
    await expectDeregistered(redis, keys, agentId);
  }, 60_000);
});

describe('graceful shutdown of the main orchestrator: dan up, and the main agent process', () => {
  const prefix = uniquePrefix('shutdown');
  let dir: string;
  let redis: Redis;
  let keys: Keys;
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dan-shutdown-'));
    redis = new Redis(testRedisUrl());
    keys = new Keys(prefix);
    writeFileSync(path.join(dir, 'rules.json'), JSON.stringify([slowRule('longjob', 60_000)]));
  });

  afterAll(async () => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (found.length > 0) await redis.del(...found);
    } while (cursor !== '0');
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  function start(args: string[], extraEnv: Record<string, string> = {}) {
    return startNode(args, {
      cwd: dir, started,
      env: {
        PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', DAN_LOG_FORMAT: 'json',
        REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, ANTHROPIC_API_KEY: '', DAN_LLM: 'local',
        DAN_MOCK_LLM_RULES: path.join(dir, 'rules.json'), DAN_WORKSPACE: path.join(dir, 'workspace'), DAN_ELF: 'off',
        DAN_SHUTDOWN_GRACE_MS: String(GRACE_MS), DAN_HEARTBEAT_INTERVAL_MS: '300', DAN_HEARTBEAT_TTL_MS: '1500',
        DAN_SUPERVISE_INTERVAL_MS: '100', DAN_MAX_INSTANCES_PER_DOMAIN: '1',
        ...extraEnv,
      },
    });
  }

  const domainPids = async () => {
    const ids = await redis.smembers(keys.agentsDomains());
    return (await Promise.all(ids.map((id) => redis.hget(keys.agentInfo(id), 'pid')))).map(Number);
  };

  it('[audit #84] dan up on SIGTERM hands back its work, stops the domains it spawned and exits 0; the main agent process finishes the task', async () => {
    const up = start([path.join(root, 'dist/bundle/cli.mjs'), 'up', '--no-start-redis']);
    await until('dan up to be up', async () => up.log.includes('network up'), 60_000);
    const taskId = await pushTask(redis, keys, 'main', 'longjob: list the files');
    await until('the sub-task to run', async () => (await redis.hget(keys.result(`${taskId}-backend`), 'status')) === 'in_progress', 60_000);
    const pids = await domainPids();
    expect(pids.length).toBeGreaterThan(0);
    const mainId = await redis.get(keys.agentsMain());

    const signalledAt = Date.now();
    up.child.kill('SIGTERM');
    expect(await up.exited).toBe(0);
    console.log(`dan up with a task in flight: exited ${Date.now() - signalledAt} ms after SIGTERM (grace ${GRACE_MS} ms)`);
    for (const pid of pids) expect(processGone(pid), `domain process ${pid} stopped`).toBe(true);
    expect(await redis.smembers(keys.agentsAll())).toEqual([]);
    expect(await redis.exists(keys.agentInfo(mainId!), keys.heartbeat(mainId!), keys.agentsMain())).toBe(0);
    // Handed back, not lost, not failed: waiting for the next main orchestrator.
    expect(await redis.hget(keys.result(taskId), 'status')).not.toMatch(/completed|failed/);

    // The container form of the main orchestrator takes the task up again and finishes it, once
    // (its own model server: the slow answer is not scripted any more).
    writeFileSync(path.join(dir, 'rules.json'), '[]');
    const agent = start([path.join(root, 'dist/src/agent.js')], { AGENT_ROLE: 'main' });
    await until('the handed-back task to complete', async () => (await redis.hget(keys.result(taskId), 'status')) === 'completed', 90_000);
    expect(await redis.hget(keys.result(`${taskId}-backend`), 'attempts')).toBe('2');
    expect(await endings(redis, keys, taskId)).toBe(1);
    expect(await endings(redis, keys, `${taskId}-backend`)).toBe(1);
    const newPids = await domainPids();
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    for (const pid of newPids) expect(processGone(pid), `domain process ${pid} stopped`).toBe(true);
    expect(await redis.smembers(keys.agentsAll())).toEqual([]);
    expect(await redis.keys(`${prefix}agents:*`)).toEqual([]);
  }, 180_000);

  it('domain processes whose dan up was SIGKILLed stop by themselves: they hand back, deregister and exit', async () => {
    writeFileSync(path.join(dir, 'rules.json'), JSON.stringify([slowRule('longjob', 60_000)]));
    const up = start([path.join(root, 'dist/bundle/cli.mjs'), 'up', '--no-start-redis']);
    await until('dan up to be up', async () => up.log.includes('network up'), 60_000);
    const taskId = await pushTask(redis, keys, 'backend', 'longjob: list the files');
    await until('the task to run', async () => (await redis.hget(keys.result(taskId), 'status')) === 'in_progress', 60_000);
    const ids = await redis.smembers(keys.agentsDomains());
    const pids = await domainPids();
    expect(pids.length).toBeGreaterThan(0);
    up.child.kill('SIGKILL');
    await up.exited;
    await until('the orphaned domain processes to stop', async () => pids.every(processGone), 30_000);
    for (const id of ids) expect(await redis.exists(keys.agentInfo(id), keys.heartbeat(id))).toBe(0);
    // Handed back for the next main orchestrator, not lost.
    expect(await redis.hget(keys.result(taskId), 'status')).not.toMatch(/completed|failed/);
    // The SIGKILLed main left its registration behind; the next test starts clean.
    const mainId = await redis.get(keys.agentsMain());
    if (mainId) await redis.multi().srem(keys.agentsAll(), mainId).del(keys.agentInfo(mainId), keys.heartbeat(mainId), keys.agentsMain()).exec();
  }, 120_000);

  it('a domain process whose parent was gone before it finished loading stops by itself too', async () => {
    // The pid of a process that has already exited: the parent as the spawner named it (DAN_PARENT_PID).
    const gone = spawn(process.execPath, ['-e', '0']);
    const parentPid = gone.pid!;
    await new Promise((resolve) => gone.once('exit', resolve));
    const agentId = `backend-${randomUUID().slice(0, 8)}`;
    const agent = start([path.join(root, 'dist/src/agent.js')], { AGENT_ROLE: 'domain', DOMAIN_TYPE: 'backend', AGENT_ID: agentId, DAN_PARENT_PID: String(parentPid) });
    expect(await agent.exited, agent.log).toBe(0);
    expect(agent.log).toContain('the process that started this agent is gone; stopping');
    await expectDeregistered(redis, keys, agentId);
  }, 60_000);

  it('dan up whose registration was swept and taken by another main stops and says so, rather than lingering', async () => {
    const up = start([path.join(root, 'dist/bundle/cli.mjs'), 'up', '--no-start-redis']);
    await until('dan up to be up', async () => up.log.includes('network up'), 60_000);
    const mainId = (await redis.get(keys.agentsMain()))!;
    // What a sweep plus a new main orchestrator leave behind.
    await redis.multi().srem(keys.agentsAll(), mainId).del(keys.agentInfo(mainId), keys.heartbeat(mainId)).set(keys.agentsMain(), 'main-00000000').exec();
    expect(await up.exited).toBe(1);
    expect(up.log).toContain(`dan: the main orchestrator ${mainId} was deregistered and another one now serves this network; this one stopped`);
    expect(await redis.get(keys.agentsMain())).toBe('main-00000000');
    await redis.del(keys.agentsMain());
  }, 120_000);
});

describe('an agent told to stop after Redis went away for good', () => {
  it('exits 1 with the reason 15 s after the grace instead of hanging', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-stuck-stop-'));
    const server = await startRedisServer(await freePort(), silentLogger);
    const agentId = `elf-${randomUUID().slice(0, 8)}`;
    // The ELF memory waits on its consumer group, a read that cannot end while Redis is gone.
    const child = spawn(process.execPath, [path.join(root, 'dist/src/agent.js')], {
      env: {
        PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', DAN_LOG_FORMAT: 'json', REDIS_URL: server.url,
        AGENT_ROLE: 'domain', DOMAIN_TYPE: 'elf', AGENT_ID: agentId, DAN_ELF_DIR: path.join(dir, 'elf'), DAN_SHUTDOWN_GRACE_MS: '1000',
      },
    });
    let log = '';
    child.stdout.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const redis = new Redis(server.url);
      await until('the agent to register', async () => (await redis.exists(`agents:heartbeat:${agentId}`)) === 1, 30_000);
      redis.disconnect();
      await server.stop();
      child.kill('SIGTERM');
      expect(await exited, log).toBe(1);
      expect(log).toMatch(/stopping did not finish \(is Redis gone\?\); exiting without handing back/);
    } finally {
      child.kill('SIGKILL');
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
