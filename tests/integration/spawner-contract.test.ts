import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { InProcessSpawner } from '../../lib/spawner/in-process-spawner.js';
import { ProcessSpawner } from '../../lib/spawner/process-spawner.js';
import { instanceSuffix, type AgentExit, type SpawnRequest, type Spawner } from '../../lib/spawner/spawner.js';
import { startAgentInProcess } from '../support/in-process-agent.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

/**
 * One suite for every spawner that runs real agents on this machine: a spawner is a spawner, so the
 * supervisor may rely on the same start, readiness, stop and exit report whichever one it is given.
 * (The Docker spawner's own suite, tests/docker/, needs an engine and an image.)
 */
const baseEnv = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' };
const kinds: Record<string, () => Spawner> = {
  process: () => new ProcessSpawner({ logger: silentLogger, baseEnv }),
  'in-process': () => new InProcessSpawner({ start: startAgentInProcess, logger: silentLogger, baseEnv }),
};

describe.each(Object.keys(kinds))('the %s spawner', (kind) => {
  const prefix = uniquePrefix('spawner');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let workspace: string;
  let spawner: Spawner;
  let exits: AgentExit[];

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-test-spawner-'));
  });
  afterAll(async () => {
    await cleanup();
    rmSync(workspace, { recursive: true, force: true });
  });
  afterEach(async () => { await spawner.close(5_000); });

  function start(): Spawner {
    spawner = kinds[kind]!();
    exits = [];
    spawner.onExit((exit) => exits.push(exit));
    return spawner;
  }

  function request(domain: string, env: Record<string, string> = {}): SpawnRequest {
    const agentId = `${domain}-${instanceSuffix()}`;
    return {
      domain, agentId,
      env: {
        AGENT_ROLE: 'domain', AGENT_ID: agentId, DOMAIN_TYPE: domain, REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix,
        DAN_WORKSPACE: workspace, DAN_ELF: 'off', DAN_LLM: 'local', DAN_LLM_URL: 'http://127.0.0.1:9', DAN_LOG_LEVEL: 'warn',
        DAN_HEARTBEAT_INTERVAL_MS: '300', DAN_HEARTBEAT_TTL_MS: '1500', DAN_SHUTDOWN_GRACE_MS: '2000',
        ...env,
      },
    };
  }

  const exitOf = (agentId: string) => until(`the exit of ${agentId}`, async () => exits.find((e) => e.agentId === agentId));

  it('starts an agent that beats in the registry, and stops it cleanly: exit code 0, nothing left listed', async () => {
    const agents = start();
    const req = request('backend');
    const spawned = await agents.spawn(req);
    expect(spawned).toMatchObject({ agentId: req.agentId, domain: 'backend' });
    expect(agents.list().map((a) => a.agentId)).toEqual([req.agentId]);
    await until('the first heartbeat', async () => (await redis.exists(keys.heartbeat(req.agentId))) === 1);
    expect(await redis.sismember(keys.agentsOfDomain('backend'), req.agentId)).toBe(1);

    await agents.stop(req.agentId, 5_000);
    expect(await exitOf(req.agentId)).toEqual({ agentId: req.agentId, domain: 'backend', code: 0, signal: null });
    expect(exits).toHaveLength(1);
    expect(agents.list()).toEqual([]);
    expect(await redis.sismember(keys.agentsOfDomain('backend'), req.agentId)).toBe(0);
  });

  it('refuses a second agent with an id already running', async () => {
    const agents = start();
    const req = request('frontend');
    await agents.spawn(req);
    await expect(agents.spawn(req)).rejects.toThrow(/already running/);
    expect(agents.list()).toHaveLength(1);
  });

  it('reports an agent whose settings are invalid as exited with code 2, its last line naming the setting', async () => {
    const agents = start();
    const req = request('backend', { DAN_LEASE_MS: 'soon' });
    await agents.spawn(req);
    expect(await exitOf(req.agentId)).toMatchObject({ agentId: req.agentId, code: 2 });
    expect((await agents.lastLines(req.agentId)).join('\n')).toMatch(/invalid configuration:[\s\S]*DAN_LEASE_MS/);
    expect(agents.list()).toEqual([]);
  });

  it('stops every agent on close and then refuses to start more', async () => {
    const agents = start();
    const reqs = [request('backend'), request('devops')];
    for (const req of reqs) await agents.spawn(req);
    for (const req of reqs) await until(`${req.agentId} to beat`, async () => (await redis.exists(keys.heartbeat(req.agentId))) === 1);
    // A generous grace: on a loaded machine (the whole suite on two cores) an agent's clean stop has
    // taken over 5 s, and the spawner then kills it, which this test would read as an unclean exit.
    await agents.close(20_000);
    expect(agents.list()).toEqual([]);
    expect(exits.map((e) => [e.agentId, e.code, e.signal]).sort()).toEqual(reqs.map((r) => [r.agentId, 0, null]).sort());
    await expect(agents.spawn(request('backend'))).rejects.toThrow(/closed/);
  });
});
