import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import { Keys } from '../../lib/redis/keys.js';
import { freePort } from '../../src/cli/local-redis.js';
import type { NetworkOverview } from '../../src/operations/network-overview.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess, startNode } from '../support/run-process.js';
import { until } from '../support/until.js';

/**
 * DAN_SPAWNER=external, as an operator runs it: `dan up --spawner external` as its own process starts
 * no domain agent whatever arrives; a domain agent started by hand (`dist/src/agent.js`, what a systemd
 * unit or a Kubernetes Deployment runs) is adopted by its heartbeat and does the work; the backlog and
 * the desired agents are published for `dan agents --json` and /metrics; an agent that dies leaves its
 * task waiting, visibly, for the next agent, which finishes it.
 */

const root = packageRoot();
const cli = path.join(root, 'dist/bundle/cli.mjs');
const agentEntry = path.join(root, 'dist/src/agent.js');

const slowRule: Rule = {
  name: 'slow-longjob', when: { anyText: 'longjob', hasToolResult: false, tool: 'Glob' },
  reply: { tool_use: [{ name: 'Glob', input: { pattern: '**/*' } }], delay_ms: 120_000 }, times: 1,
};

describe('external mode: main starts nothing, adopts agents started by hand, publishes what it would want', () => {
  const prefix = uniquePrefix('external');
  const keys = new Keys(prefix);
  const started: ChildProcess[] = [];
  let dir: string;
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let metricsUrl: string;
  let baseEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dan-external-'));
    ({ redis, cleanup } = await connectTestRedis(prefix));
    writeFileSync(path.join(dir, 'rules.json'), JSON.stringify([slowRule]));
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    baseEnv = {
      PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', DAN_LOG_FORMAT: 'json',
      REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, ANTHROPIC_API_KEY: '', DAN_LLM: 'local',
      DAN_MOCK_LLM_RULES: path.join(dir, 'rules.json'), DAN_WORKSPACE: path.join(dir, 'workspace'), DAN_ELF: 'off',
      DAN_HEARTBEAT_INTERVAL_MS: '300', DAN_HEARTBEAT_TTL_MS: '1500', DAN_SUPERVISE_INTERVAL_MS: '100',
      DAN_SHUTDOWN_GRACE_MS: '2000', DAN_METRICS_PORT: String(metricsPort),
    };
  });

  afterAll(async () => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const start = (args: string[], extraEnv: Record<string, string> = {}) => startNode(args, { cwd: dir, env: { ...baseEnv, ...extraEnv }, started });

  /** A domain agent as an operator starts one: no AGENT_ID (it picks its own). */
  const startBackendAgent = (env: Record<string, string> = {}) => start([agentEntry], { AGENT_ROLE: 'domain', DOMAIN_TYPE: 'backend', ...env });

  async function pushTask(description: string): Promise<string> {
    const taskId = randomUUID();
    const task = { task_id: taskId, type: 'task_assignment', payload: { description }, metadata: { timeout_seconds: 300 } };
    await redis.multi().lpush(keys.pending('backend'), JSON.stringify(task)).hset(keys.result(taskId), 'task_id', taskId, 'status', 'pending').exec();
    return taskId;
  }

  async function agentsJson(): Promise<NetworkOverview> {
    const run = await runProcess(process.execPath, [cli, 'agents', '--json'], { env: baseEnv, cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as NetworkOverview;
  }

  const backendScaling = async () => (await agentsJson()).scaling.find((s) => s.domain === 'backend');
  const metricsText = async () => (await fetch(metricsUrl)).text();
  const status = async (taskId: string) => redis.hget(keys.result(taskId), 'status');

  it('starts no agent when a task arrives, and says the task waits for one with the numbers an autoscaler needs', async () => {
    const up = start([cli, 'up', '--no-start-redis', '--spawner', 'external']);
    await until('dan up to be up', async () => up.log.includes('network up'), 60_000);
    expect(up.log).toContain('domains are started outside this process and adopted by their heartbeats');
    const taskId = await pushTask('list the files');

    // Published by a tick that saw the task: main has looked at the domain, and decided to start nothing.
    const scaling = await until('main to publish the backlog', async () => {
      const s = await backendScaling();
      return s && s.backlog === 1 ? s : undefined;
    });
    expect(scaling).toMatchObject({ domain: 'backend', backlog: 1, live: 0, desired: 1, spawner: 'external', waiting: 'waiting: no agent; external mode starts none' });
    const overview = await agentsJson();
    expect(overview.agents.filter((a) => a.role === 'domain')).toEqual([]);
    expect(await redis.smembers(keys.agentsDomains())).toEqual([]);
    expect(await redis.hgetall(keys.metricsSpawns())).toEqual({});
    expect(await status(taskId)).toBe('pending');

    const text = await metricsText();
    expect(text).toContain('dan_domain_desired_agents{domain="backend"} 1');
    expect(text).toContain('dan_domain_backlog_tasks{domain="backend"} 1');
    const plain = await runProcess(process.execPath, [cli, 'agents'], { env: baseEnv, cwd: dir });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^backend +1 +0 +0 +0 +0 +1 {2}waiting: no agent; external mode starts none$/m);

    // An agent started by hand, as a systemd unit or a Deployment would: adopted, and it does the work.
    const agent = startBackendAgent();
    await until('the task to complete', async () => (await status(taskId)) === 'completed', 90_000);
    const agentId = (await redis.hget(keys.result(taskId), 'agent_id'))!;
    expect(agentId).toMatch(/^backend-[0-9a-f]{8}$/);
    const adopted = await until('main to count the agent', async () => {
      const s = await backendScaling();
      return s && s.live === 1 && s.backlog === 0 ? s : undefined;
    });
    expect(adopted).toMatchObject({ live: 1, desired: 0 });
    expect(adopted.waiting).toBeUndefined();
    expect((await agentsJson()).agents.find((a) => a.agent_id === agentId)).toMatchObject({ role: 'domain', unexplained: false });
    // Still nothing started by main: the only domain agent is the one this test started.
    expect(await redis.smembers(keys.agentsDomains())).toEqual([agentId]);
    expect(await redis.hgetall(keys.metricsSpawns())).toEqual({});
    expect(await metricsText()).toContain('dan_domain_desired_agents{domain="backend"} 0');

    // The agent dies mid-task (SIGKILL: no hand-back of its own): the task waits for the next agent, not lost.
    const slowId = await pushTask('longjob: list the files');
    await until('the slow task to run', async () => (await status(slowId)) === 'in_progress', 60_000);
    agent.child.kill('SIGKILL');
    await agent.exited;
    const waiting = await until('the task handed back and shown waiting', async () => {
      const s = await backendScaling();
      return s && s.backlog === 1 && s.live === 0 ? s : undefined;
    }, 30_000);
    expect(waiting).toMatchObject({ desired: 1, waiting: 'waiting: no agent; external mode starts none' });
    expect(await status(slowId)).not.toMatch(/completed|failed/);
    expect(await redis.llen(keys.dead('backend'))).toBe(0);
    expect(await redis.smembers(keys.agentsDomains())).toEqual([]);

    // The next agent takes it up again and finishes it (each agent runs its own local model server here:
    // this one's has no slow answer scripted). It starts as a Kubernetes pod's does: named after the
    // pod's UID, the id recorded where the health check reads it (the pod's /tmp; here a folder of the test's).
    writeFileSync(path.join(dir, 'quick-rules.json'), '[]');
    const podTmp = mkdtempSync(path.join(dir, 'pod-tmp-'));
    const podEnv = { DAN_AGENT_ID_FROM: 'pod-uid', DAN_POD_UID: '3f2c1a9e-7b4d-4c1e-9a8f-0d2e5b6c7a81', TMPDIR: podTmp };
    const next = startBackendAgent({ DAN_MOCK_LLM_RULES: path.join(dir, 'quick-rules.json'), ...podEnv });
    await until('the handed-back task to complete', async () => (await status(slowId)) === 'completed', 90_000);
    expect(await redis.hget(keys.result(slowId), 'attempts')).toBe('2');
    expect(await redis.hget(keys.result(slowId), 'agent_id')).toBe('backend-3f2c1a9e');
    expect(await redis.smembers(keys.agentsDomains())).toEqual(['backend-3f2c1a9e']);
    const health = await runProcess(process.execPath, [path.join(root, 'dist/bundle/healthcheck.mjs')], { env: { ...baseEnv, TMPDIR: podTmp }, cwd: dir });
    expect(health.stdout.trim()).toBe('healthy: agent backend-3f2c1a9e is alive');
    expect(health.code).toBe(0);
    expect(await redis.hgetall(keys.metricsSpawns())).toEqual({});

    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
    up.child.kill('SIGTERM');
    expect(await up.exited).toBe(0);
  }, 300_000);
});
