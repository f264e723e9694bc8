import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readScaling } from '../../lib/redis/domain-scaling.js';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import { Keys } from '../../lib/redis/keys.js';
import { ModelRateLimit } from '../../lib/redis/model-rate-limit.js';
import { TaskQueue } from '../../lib/redis/task-queue.js';
import { queueDepth } from '../../lib/redis/queue-counts.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { ExternalSpawner } from '../../lib/spawner/external-spawner.js';
import type { AgentExit, SpawnRequest, SpawnedAgent, Spawner } from '../../lib/spawner/spawner.js';
import { DomainSupervisor, type SupervisorEvent } from '../../src/main/domain-supervisor.js';
import { desiredAgents } from '../../src/main/spawn-policy.js';
import { MovableClock } from '../support/movable-clock.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

/** A spawner that starts nothing: it records requests, and the test reports exits through it. */
class RecordingSpawner implements Spawner {
  readonly kind = 'process' as const;
  readonly requests: SpawnRequest[] = [];
  private listener: ((exit: AgentExit) => void) | undefined;
  spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    this.requests.push(request);
    return Promise.resolve({ agentId: request.agentId, domain: request.domain, handle: '1', startedAt: Date.now() });
  }
  stop(): Promise<void> { return Promise.resolve(); }
  list(): SpawnedAgent[] { return []; }
  lastLines(): Promise<string[]> { return Promise.resolve([]); }
  onExit(listener: (exit: AgentExit) => void): void { this.listener = listener; }
  exited(exit: AgentExit): void { this.listener?.(exit); }
  /** Agents it vouches for although it did not start them (as Docker does for a container of the network). */
  readonly vouchesFor = new Set<string>();
  adoptLate(agentId: string): Promise<SpawnedAgent | undefined> {
    const domain = agentId.slice(0, agentId.lastIndexOf('-'));
    return Promise.resolve(this.vouchesFor.has(agentId) ? { agentId, domain, handle: '2', startedAt: Date.now() } : undefined);
  }
  close(): Promise<void> { return Promise.resolve(); }
}

/** Names each agent after its container, as Swarm replicas do; this one's agent is killed before its spawn resolves. */
class KilledWhileStartingSpawner extends RecordingSpawner {
  override spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    this.requests.push(request);
    const agentId = `${request.domain}-c0ffee0${this.requests.length}`;
    this.exited({ agentId, domain: request.domain, code: null, signal: 'SIGKILL' });
    return Promise.resolve({ agentId, domain: request.domain, handle: '1', startedAt: Date.now() });
  }
}

/** Names each agent after its container, as Swarm replicas do; this one's agent beats before its spawn resolves. */
class BeatsBeforeSpawnResolvesSpawner extends RecordingSpawner {
  resolveSpawn: (() => void) | undefined;
  override spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    this.requests.push(request);
    const agentId = `${request.domain}-c0ffee01`;
    this.vouchesFor.add(agentId);
    return new Promise((resolve) => {
      this.resolveSpawn = () => resolve({ agentId, domain: request.domain, handle: '1', startedAt: Date.now() });
    });
  }
}

const queueSettings = { leaseMs: 30_000, retentionMs: 3_600_000, maxAttempts: 3, retryBaseMs: 0, retryMaxMs: 0, maxQueueDepth: 10_000 };

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;

beforeEach(async () => {
  const prefix = uniquePrefix('supervisor');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => {
  if (redis.status !== 'ready') await redis.connect();
  await cleanup();
});

describe('DomainSupervisor', () => {
  it('takes out an agent that died while Redis was away as soon as Redis answers, without waiting out the grace', async () => {
    const clock = new MovableClock(Date.now());
    const registry = new HeartbeatRegistry(redis, keys, 30_000, clock);
    const spawner = new RecordingSpawner();
    const logLines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
    const supervisor = new DomainSupervisor({
      redis, keys, registry, spawner, logger, clock, domains: () => ['backend'], agentEnv: {},
      limits: { maxDomainAgents: 4, maxInstancesPerDomain: 1, domainConcurrency: 4 }, spawnTimeoutMs: 60_000, sweepEveryMs: 0, scanEveryMs: 60_000,
      queue: queueSettings,
    });

    // A running backend agent holds the only task.
    await registry.register({ agentId: 'backend-dead0001', role: 'domain', domain: 'backend' });
    await submitTask(redis, keys, { taskId: 'held-1', domain: 'backend', description: 'x' });
    const [held] = await new TaskQueue(redis, keys, { domain: 'backend', agentId: 'backend-dead0001', ...queueSettings, housekeepingMs: 0 }).claim(1);
    expect(held?.taskId).toBe('held-1');

    // Redis goes away, and meanwhile the agent's process is killed: the clean-up cannot run yet.
    redis.disconnect();
    spawner.exited({ agentId: 'backend-dead0001', domain: 'backend', code: null, signal: 'SIGKILL' });
    await until('the failed clean-up to be logged', async () => logLines.some((l) => l.includes('cleanup after an agent exit failed')));

    // Redis answers again: within the grace a registered agent counts as live, but this one is known dead.
    await redis.connect();
    expect(registry.inReconnectGrace()).toBe(true);
    expect(await registry.liveDomainAgents('backend')).toEqual(['backend-dead0001']);
    clock.advance(1_000); // past the first restart backoff (500 ms), well inside the 30 s grace
    await supervisor.tick();

    expect(await redis.sismember(keys.agentsAll(), 'backend-dead0001')).toBe(0);
    expect(await redis.zcard(keys.leases('backend'))).toBe(0);
    expect(await queueDepth(redis, keys, 'backend')).toBe(1);
    expect(spawner.requests.map((r) => r.domain)).toEqual(['backend']);
    expect(spawner.requests[0]?.agentId).not.toBe('backend-dead0001');
  });

  it('starts the next agent after the backoff when one named after its container (a Swarm replica) died before its spawn resolved, not after the spawn timeout', async () => {
    const clock = new MovableClock(Date.now());
    const registry = new HeartbeatRegistry(redis, keys, 30_000, clock);
    const spawner = new KilledWhileStartingSpawner();
    const supervisor = new DomainSupervisor({
      redis, keys, registry, spawner, logger: pino({ level: 'silent' }), clock, domains: () => ['backend'], agentEnv: {},
      limits: { maxDomainAgents: 4, maxInstancesPerDomain: 1, domainConcurrency: 4 }, spawnTimeoutMs: 60_000, sweepEveryMs: 60_000, scanEveryMs: 60_000,
      queue: queueSettings,
    });
    await submitTask(redis, keys, { taskId: 'waiting-1', domain: 'backend', description: 'x' });
    await supervisor.tick();
    expect(spawner.requests).toHaveLength(1);
    clock.advance(1_000); // past the first restart backoff (500 ms), far inside the spawn timeout
    await supervisor.tick();
    expect(spawner.requests).toHaveLength(2);
  });

  it('counts an agent named after its container that beat before its spawn resolved as that spawn ready, once, with its event', async () => {
    const clock = new MovableClock(Date.now());
    const registry = new HeartbeatRegistry(redis, keys, 30_000, clock);
    const spawner = new BeatsBeforeSpawnResolvesSpawner();
    const events: SupervisorEvent[] = [];
    const supervisor = new DomainSupervisor({
      redis, keys, registry, spawner, logger: pino({ level: 'silent' }), clock, domains: () => ['backend'], agentEnv: {},
      limits: { maxDomainAgents: 4, maxInstancesPerDomain: 1, domainConcurrency: 4 }, spawnTimeoutMs: 60_000, sweepEveryMs: 60_000, scanEveryMs: 60_000,
      queue: queueSettings, onEvent: (event) => events.push(event),
    });
    await submitTask(redis, keys, { taskId: 'waiting-1', domain: 'backend', description: 'x' });
    const spawning = supervisor.tick();
    await until('the spawn request', async () => spawner.requests.length === 1);
    // The replica beats, and a tick (a wake-up) runs while the spawn still waits for the engine.
    await registry.register({ agentId: 'backend-c0ffee01', role: 'domain', domain: 'backend' });
    await supervisor.tick();
    spawner.resolveSpawn?.();
    await spawning;
    expect(events.filter((e) => e.type === 'ready').map((e) => e.agentId)).toEqual(['backend-c0ffee01']);
    expect(spawner.requests).toHaveLength(1);
  });

  it('starts an agent for waiting work although a hand-made agent heartbeats for the domain, and counts one its spawner vouches for', async () => {
    const clock = new MovableClock(Date.now());
    const registry = new HeartbeatRegistry(redis, keys, 30_000, clock);
    const spawner = new RecordingSpawner();
    const supervisor = new DomainSupervisor({
      redis, keys, registry, spawner, logger: pino({ level: 'silent' }), clock, domains: () => ['backend', 'devops'], agentEnv: {},
      limits: { maxDomainAgents: 4, maxInstancesPerDomain: 1, domainConcurrency: 4 }, spawnTimeoutMs: 60_000, sweepEveryMs: 60_000, scanEveryMs: 60_000,
      queue: queueSettings,
    });
    // Registered by hand, with a fresh heartbeat: nobody started it, and nothing vouches for it.
    await registry.register({ agentId: 'backend-0badc0de', role: 'domain', domain: 'backend' });
    // A container of the network started after this main (compose's always-on domains): the spawner vouches for it.
    await registry.register({ agentId: 'devops-00000003', role: 'domain', domain: 'devops' });
    spawner.vouchesFor.add('devops-00000003');
    await submitTask(redis, keys, { taskId: 'waiting-1', domain: 'backend', description: 'x' });
    await submitTask(redis, keys, { taskId: 'waiting-2', domain: 'devops', description: 'x' });

    await supervisor.tick();
    expect(spawner.requests.map((r) => r.domain)).toEqual(['backend']);
    expect(await redis.smembers(keys.agentsSpawned())).toEqual(['devops-00000003']);
    const listed = await registry.list(['backend', 'devops']);
    expect(listed.map((a) => [a.agent_id, a.unexplained])).toEqual([['backend-0badc0de', false], ['devops-00000003', false]]);
    // Judged once a main is registered: the hand-made one is unexplained, the vouched-for one is not.
    await registry.register({ agentId: 'main-00000000', role: 'main', domain: 'main' });
    const judged = await registry.list(['backend', 'devops']);
    expect(judged.filter((a) => a.role === 'domain').map((a) => [a.agent_id, a.unexplained])).toEqual([['backend-0badc0de', true], ['devops-00000003', false]]);
  });

  it('with the external spawner starts nothing, publishes desired agents by the spawning rule, and counts any agent that heartbeats', async () => {
    const clock = new MovableClock(Date.now());
    const registry = new HeartbeatRegistry(redis, keys, 30_000, clock);
    const limits = { maxDomainAgents: 1, maxInstancesPerDomain: 3, domainConcurrency: 2 };
    const supervisor = new DomainSupervisor({
      redis, keys, registry, spawner: new ExternalSpawner(), logger: pino({ level: 'silent' }), clock, domains: () => ['backend', 'devops'],
      resident: ['elf'], agentEnv: {}, limits, spawnTimeoutMs: 60_000, sweepEveryMs: 60_000, scanEveryMs: 60_000, queue: queueSettings,
    });
    // 9 tasks at 2 per agent: 1 + floor(9 / 8) = 2 agents wanted; DAN_MAX_DOMAIN_AGENTS (1 here) caps what main starts, not what it asks for.
    for (let i = 0; i < 9; i++) await submitTask(redis, keys, { taskId: `ext-${i}`, domain: 'backend', description: 'x' });

    await supervisor.tick();
    expect(await readScaling(redis, keys, ['backend', 'devops', 'elf'])).toEqual([
      { domain: 'backend', backlog: 9, live: 0, desired: desiredAgents(9, limits), spawner: 'external', at: new Date(clock.now()).toISOString() },
      { domain: 'devops', backlog: 0, live: 0, desired: 0, spawner: 'external', at: new Date(clock.now()).toISOString() },
      { domain: 'elf', backlog: 0, live: 0, desired: 1, spawner: 'external', at: new Date(clock.now()).toISOString() },
    ]);
    expect(desiredAgents(9, limits)).toBe(2);
    expect(await redis.hgetall(keys.metricsSpawns())).toEqual({});
    expect(await redis.smembers(keys.agentsSpawned())).toEqual([]);

    // Agents started elsewhere, known only by their heartbeats: adopted, counted, and not unexplained.
    await registry.register({ agentId: 'backend-00000e01', role: 'domain', domain: 'backend' });
    await registry.register({ agentId: 'elf-00000e02', role: 'domain', domain: 'elf' });
    await registry.register({ agentId: 'main-00000000', role: 'main', domain: 'main' });
    await supervisor.tick();
    const [backend, , elf] = await readScaling(redis, keys, ['backend', 'devops', 'elf']);
    expect([backend?.live, elf?.live]).toEqual([1, 1]);
    expect((await redis.smembers(keys.agentsSpawned())).sort()).toEqual(['backend-00000e01', 'elf-00000e02']);
    expect((await registry.list(['backend', 'elf'])).filter((a) => a.role === 'domain').map((a) => a.unexplained)).toEqual([false, false]);
    expect(await redis.hgetall(keys.metricsSpawns())).toEqual({});
  });

  it('starts no domain while a 429 pauses a model, says why once, and starts it when the pause ends', async () => {
    const registry = new HeartbeatRegistry(redis, keys, 30_000);
    const spawner = new RecordingSpawner();
    const logLines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
    const supervisor = new DomainSupervisor({
      redis, keys, registry, spawner, logger, domains: () => ['backend'], agentEnv: {},
      limits: { maxDomainAgents: 4, maxInstancesPerDomain: 1, domainConcurrency: 4 }, spawnTimeoutMs: 60_000, sweepEveryMs: 60_000, scanEveryMs: 60_000,
      queue: queueSettings,
    });
    await submitTask(redis, keys, { taskId: 'waits-1', domain: 'backend', description: 'x' });
    await new ModelRateLimit(redis, keys, { defaults: { rpm: 0, inputTpm: 0, outputTpm: 0 }, windowMs: 60_000 }).pause('claude-sonnet-5-5', 60_000);
    await supervisor.tick();
    await supervisor.tick();
    expect(spawner.requests).toHaveLength(0);
    expect(logLines.filter((l) => l.includes('model claude-sonnet-5-5 paused for'))).toHaveLength(1);
    // The pause ends (here: taken away by hand, as a long one would run out).
    await redis.del(keys.modelPauses());
    await supervisor.tick();
    expect(spawner.requests.map((r) => r.domain)).toEqual(['backend']);
  });

  it('gives every agent one whole heartbeat expiry to beat again after an outage (at least 2 s)', () => {
    expect(new HeartbeatRegistry(redis, keys, 30_000).reconnectGraceMs).toBe(30_000);
    expect(new HeartbeatRegistry(redis, keys, 500).reconnectGraceMs).toBe(2_000);
  });
});
