import type { Redis } from 'ioredis';
import type { Clock } from '../../lib/clock.js';
import { sleep, systemClock } from '../../lib/clock.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { knownSecrets, redactText } from '../../lib/logger.js';
import { publishScaling } from '../../lib/redis/domain-scaling.js';
import { clearStartFailure, recordStartFailure } from '../../lib/redis/domain-starts.js';
import { appendAgentOutput } from '../../lib/redis/task-store.js';
import { recordSpawn } from '../../lib/redis/task-metrics.js';
import type { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import type { Keys } from '../../lib/redis/keys.js';
import { domainsWithPendingQueues, waitingCounts } from '../../lib/redis/queue-counts.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import type { AgentExit, Spawner } from '../../lib/spawner/spawner.js';
import { instanceSuffix } from '../../lib/spawner/spawner.js';
import type { DomainLoad, SpawnLimits } from './spawn-policy.js';
import { describeModelPause, desiredAgents, domainsToSpawn, restartBackoffMs, spawnHold } from './spawn-policy.js';
import { readModelPauses } from '../../lib/redis/model-rate-limit.js';

/** 2 s for a swept agent to take SIGTERM: a healthy one has long stopped; a wedged one never will. */
const SWEPT_AGENT_GRACE_MS = 2_000;

export interface DomainSupervisorOptions {
  redis: Redis;
  keys: Keys;
  registry: HeartbeatRegistry;
  spawner: Spawner;
  /** Domains the network serves (the folders of agents/). */
  domains: () => string[];
  /** Domains kept at exactly one agent whether or not work waits (the ELF memory). */
  resident?: string[];
  limits: SpawnLimits;
  /** Environment every spawned agent gets besides AGENT_ROLE, AGENT_ID and DOMAIN_TYPE. */
  agentEnv: Record<string, string>;
  spawnTimeoutMs: number;
  /** Sweeps of dead agents and lapsed leases happen at most this often. */
  sweepEveryMs: number;
  /** The scan for pushes to unknown domains happens at most this often. */
  scanEveryMs: number;
  /** Queue settings (lease, retention, attempts, retry backoff, depth limit) of the supervised domains. */
  queue: Pick<Config, 'leaseMs' | 'retentionMs' | 'maxAttempts' | 'retryBaseMs' | 'retryMaxMs' | 'maxQueueDepth'>;
  logger: Logger;
  clock?: Clock;
  /** Called for events a person watching wants to see (the demo prints them). */
  onEvent?: (event: SupervisorEvent) => void;
}

export type SupervisorEvent =
  | { type: 'spawning'; domain: string; agentId: string; depth: number }
  | { type: 'ready'; domain: string; agentId: string; ms: number }
  | { type: 'spawn_failed'; domain: string; agentId: string; error: string }
  | { type: 'agent_exited'; domain: string; agentId: string; code: number | null; signal: string | null }
  | { type: 'agent_swept'; domain: string; agentId: string; requeued: number }
  | { type: 'dead_lettered'; domain: string; count: number; reason: string };

interface DomainState {
  starting: Map<string, number>;
  /** Agents that reached their first heartbeat and have not exited yet. */
  ready: Set<string>;
  failures: number;
  notBefore: number;
}

/**
 * Starts domain orchestrators on demand and cleans up after dead ones. Each tick: sweep agents whose
 * heartbeat lapsed and hand their tasks back; requeue lapsed leases; dead-letter pushes to domains
 * nobody serves; and spawn agents for domains with work and too few agents, within the caps, with
 * backoff after failures. Ready means the first heartbeat.
 */
export class DomainSupervisor {
  private readonly state = new Map<string, DomainState>();
  private readonly clock: Clock;
  private lastSweep = Number.NEGATIVE_INFINITY;
  private lastScan = Number.NEGATIVE_INFINITY;
  /** What an earlier main recorded as spawned is forgotten before this one records anything. */
  private spawnedCleared = false;
  /** The models whose pause holds spawning now (spawnHold), to log a hold once. */
  private hold: string | undefined;
  /** When the spawner was last asked to vouch for each unexplained agent. */
  private readonly lastAdoptAsk = new Map<string, number>();
  /** Agents that died while Redis was away: deregistered and their tasks handed back on a later tick. */
  private readonly pendingCleanups: AgentExit[] = [];
  /** Spawn-to-first-heartbeat times of the last 100 spawns, for measurements. */
  readonly readyTimesMs: number[] = [];
  /** Spawns that reached their first heartbeat since start. */
  readyCount = 0;
  private secrets: string[] | undefined;

  constructor(private readonly options: DomainSupervisorOptions) {
    this.clock = options.clock ?? systemClock;
    options.spawner.onExit((exit) => void this.handleExit(exit));
    // Adopted agents count as starting until their first heartbeat, so none is started twice; one
    // that never heartbeats is stopped after the spawn timeout like any other.
    for (const agent of options.spawner.adopt?.() ?? []) {
      const startedAt = this.clock.now();
      this.domainState(agent.domain).starting.set(agent.agentId, startedAt);
      void this.watchReady(agent.domain, agent.agentId, startedAt);
    }
  }

  private domainState(domain: string): DomainState {
    let s = this.state.get(domain);
    if (!s) this.state.set(domain, (s = { starting: new Map(), ready: new Set(), failures: 0, notBefore: 0 }));
    return s;
  }

  private queue(domain: string, agentId = 'supervisor'): TaskQueue {
    const o = this.options;
    return new TaskQueue(o.redis, o.keys, { ...queueOptions(o.queue, domain, agentId), clock: this.clock });
  }

  /**
   * One look at the network. Spawning is decided on every tick (ticks come early when a task is
   * announced); the sweeps run at most every `sweepEveryMs`, and the keyspace scan for unknown
   * domains at most every `scanEveryMs` (it reads every key name, so it must stay rare).
   */
  async tick(): Promise<void> {
    const o = this.options;
    const now = this.clock.now();
    const domains = o.domains();
    if (!this.spawnedCleared) {
      await o.registry.clearSpawned();
      this.spawnedCleared = true;
      // Adopted agents may have come up before the clear.
      for (const s of this.state.values()) for (const id of s.ready) await o.registry.recordSpawned(id);
    }
    // First, since right after an outage a registered agent counts as live until it can beat again.
    for (const exit of this.pendingCleanups.splice(0)) await this.cleanUpAfter(exit);
    if (now - this.lastSweep >= o.sweepEveryMs) {
      this.lastSweep = now;
      await this.sweepDeadAgents();
      for (const domain of [...domains, ...(o.resident ?? []), 'main']) await this.queue(domain).reclaimExpired();
    }
    if (now - this.lastScan >= o.scanEveryMs) {
      this.lastScan = now;
      await this.deadLetterUnknownDomains(new Set([...domains, ...(o.resident ?? [])]));
    }

    const loads = [];
    // Every domain's backlog in one round trip, reading only what the spawn decision needs.
    const depths = await waitingCounts(o.redis, o.keys, domains);
    for (const domain of domains) {
      const s = this.domainState(domain);
      const live = await this.explainedOf(domain, await o.registry.liveDomainAgents(domain));
      loads.push({ domain, depth: depths.get(domain) ?? 0, live: live.length, starting: s.starting.size, notBefore: s.notBefore });
    }
    const residents = [];
    for (const domain of o.resident ?? []) {
      const live = await this.explainedOf(domain, await o.registry.liveDomainAgents(domain));
      residents.push({ domain, live: live.length });
    }
    await this.publish(loads, residents);
    // A spawner that starts none (external mode) leaves it to whatever runs the agents, which reads the numbers just published.
    if (o.spawner.startsAgents === false) return;
    const picks = domainsToSpawn(loads, o.limits, this.clock.now());
    // Read only when an agent would start: a steady tick costs no command for it.
    if ((picks.length > 0 || residents.some((r) => r.live === 0)) && await this.heldByRateLimit()) return;
    for (const domain of picks) {
      const depth = loads.find((l) => l.domain === domain)?.depth ?? 0;
      await this.spawn(domain, depth);
    }
    for (const { domain, live } of residents) {
      const s = this.domainState(domain);
      if (live === 0 && s.starting.size === 0 && this.clock.now() >= s.notBefore) await this.spawn(domain, 0);
    }
  }

  /**
   * The backlog, live and desired agents of every domain, for `dan agents`, /metrics and an outside
   * autoscaler: desired by the rule spawning follows (a resident domain wants exactly one). Best effort,
   * like the start failures: the next tick publishes again.
   */
  private async publish(loads: readonly DomainLoad[], residents: readonly { domain: string; live: number }[]): Promise<void> {
    const o = this.options;
    const at = new Date(this.clock.now()).toISOString();
    const spawner = o.spawner.kind;
    const rows = [
      ...loads.map((l) => ({ domain: l.domain, backlog: l.depth, live: l.live, desired: desiredAgents(l.depth, o.limits), spawner, at })),
      ...residents.map((r) => ({ domain: r.domain, backlog: 0, live: r.live, desired: 1, spawner, at })),
    ];
    // Three sweeps: numbers of a main orchestrator that stopped are gone soon after, never mistaken for current.
    await publishScaling(o.redis, o.keys, rows, Math.max(o.sweepEveryMs * 3, 15_000)).catch((err: Error) => {
      o.logger.debug({ err: err.message }, 'could not publish the domains\' scaling numbers in Redis');
    });
  }

  /** While a 429 pauses a model, no agent starts (said once per pause in the log; `dan agents` shows it too). */
  private async heldByRateLimit(): Promise<boolean> {
    const pauses = await readModelPauses(this.options.redis, this.options.keys).catch(() => []);
    const hold = spawnHold(pauses);
    if (hold !== undefined && hold !== this.hold) for (const p of pauses) this.options.logger.warn({ model: p.model, remainingMs: p.remainingMs }, describeModelPause(p));
    if (hold === undefined && this.hold !== undefined) this.options.logger.info({ models: this.hold }, 'model pause over: domains start again');
    this.hold = hold;
    return hold !== undefined;
  }

  /**
   * Of the agents the registry holds for a domain, the ones this supervisor's spawner started or adopted.
   * Anyone who reaches Redis can register an agent and keep its heartbeat fresh; counting such an agent
   * would leave the domain's work waiting for an agent that never takes it. `dan agents` shows the rest.
   */
  private async explainedOf(domain: string, registered: string[]): Promise<string[]> {
    const s = this.domainState(domain);
    for (const id of registered) {
      if (s.starting.has(id)) this.markReady(domain, id);
      else if (!s.ready.has(id)) await this.tryAdoptLate(domain, id);
    }
    return registered.filter((id) => s.ready.has(id));
  }

  /** Asks the spawner to vouch for an agent nobody started; one that cannot is asked again after a while. */
  private async tryAdoptLate(domain: string, agentId: string): Promise<void> {
    const adoptLate = this.options.spawner.adoptLate?.bind(this.options.spawner);
    const now = this.clock.now();
    // One engine query per unexplained agent every 10 s at most: a hand-made agent stays unexplained.
    if (!adoptLate || now - (this.lastAdoptAsk.get(agentId) ?? Number.NEGATIVE_INFINITY) < 10_000) return;
    this.lastAdoptAsk.set(agentId, now);
    if (this.lastAdoptAsk.size > 1_000) this.lastAdoptAsk.clear();
    const agent = await adoptLate(agentId, domain).catch(() => undefined);
    if (agent?.domain !== domain) return;
    this.lastAdoptAsk.delete(agentId);
    // Already up (it heartbeats): counted at once, without a spawn-to-ready time of its own.
    this.domainState(domain).ready.add(agentId);
    await this.options.registry.recordSpawned(agentId).catch(() => undefined);
    this.options.logger.info({ domain, agentId }, 'adopted a domain agent started after this main orchestrator');
  }

  private async spawn(domain: string, depth: number): Promise<void> {
    const o = this.options;
    const s = this.domainState(domain);
    const agentId = `${domain}-${instanceSuffix()}`;
    const startedAt = this.clock.now();
    s.starting.set(agentId, startedAt);
    o.logger.info({ domain, agentId, depth, spawner: o.spawner.kind }, 'spawning domain agent');
    o.onEvent?.({ type: 'spawning', domain, agentId, depth });
    this.countSpawn(domain, 'started');
    let spawned: string;
    try {
      spawned = (await o.spawner.spawn({
        domain,
        agentId,
        env: { ...o.agentEnv, AGENT_ROLE: 'domain', AGENT_ID: agentId, DOMAIN_TYPE: domain },
      })).agentId;
    } catch (error) {
      s.starting.delete(agentId);
      this.recordFailure(domain, agentId, (error as Error).message, await o.spawner.lastLines(agentId, 20).catch(() => []));
      return;
    }
    // A spawner whose agents share one spec (Swarm replicas) names the agent after its container.
    if (spawned !== agentId) {
      s.starting.delete(agentId);
      // Counted already: a tick saw it beat while the spawn resolved and took it as an agent started after
      // this main. It is this spawn's: ready now, with its spawn-to-ready time and its event.
      if (s.ready.has(spawned)) {
        s.ready.delete(spawned);
        s.starting.set(spawned, startedAt);
        this.markReady(domain, spawned);
        return;
      }
      // Gone already: its exit came under the new name while the spawn resolved, and waiting for its
      // heartbeat would hold the domain's next start until the timeout.
      if (!o.spawner.list().some((a) => a.agentId === spawned)) return;
      s.starting.set(spawned, startedAt);
    }
    void this.watchReady(domain, spawned, startedAt);
  }

  private async watchReady(domain: string, agentId: string, startedAt: number): Promise<void> {
    const o = this.options;
    const s = this.domainState(domain);
    while (this.clock.now() - startedAt < o.spawnTimeoutMs) {
      // Gone from `starting`: the tick saw it live first, or it exited.
      if (!s.starting.has(agentId)) return;
      if (await o.registry.isAlive(agentId).catch(() => false)) {
        this.markReady(domain, agentId);
        return;
      }
      await sleep(25);
    }
    const lines = await o.spawner.lastLines(agentId, 20).catch(() => []);
    s.starting.delete(agentId);
    await o.spawner.stop(agentId, 2_000).catch(() => undefined);
    this.recordFailure(domain, agentId, `no heartbeat within ${o.spawnTimeoutMs} ms; last output: ${lines.join(' | ') || '(none)'}`, lines);
  }

  /**
   * A line a domain agent printed, added to the log stream so `dan logs` shows the output of agents
   * run as processes (spawn, crash, config errors) as it shows containers'. Scrubbed of secrets, as
   * `dan up` scrubs what it echoes; best effort, like any log line.
   */
  recordAgentOutput(agentId: string, line: string): void {
    const domain = this.options.spawner.list().find((a) => a.agentId === agentId)?.domain ?? agentId.replace(/-[0-9a-f]{8}$/, '');
    this.secrets ??= knownSecrets();
    void appendAgentOutput(this.options.redis, this.options.keys, { agentId, domain, line: redactText(line, this.secrets) }).catch(() => undefined);
  }

  /** Ready means the first heartbeat; whichever of the tick and the watcher sees it first records it. */
  private markReady(domain: string, agentId: string): void {
    const s = this.domainState(domain);
    const startedAt = s.starting.get(agentId);
    if (startedAt === undefined) return;
    s.starting.delete(agentId);
    s.ready.add(agentId);
    void this.options.registry.recordSpawned(agentId).catch(() => undefined);
    const ms = this.clock.now() - startedAt;
    this.readyCount += 1;
    this.readyTimesMs.push(ms);
    if (this.readyTimesMs.length > 100) this.readyTimesMs.shift();
    this.options.logger.info({ domain, agentId, ms }, 'domain agent ready');
    void clearStartFailure(this.options.redis, this.options.keys, domain).catch(() => undefined);
    this.options.onEvent?.({ type: 'ready', domain, agentId, ms });
  }

  private recordFailure(domain: string, agentId: string, error: string, lines: string[]): void {
    const s = this.domainState(domain);
    s.failures += 1;
    const backoff = restartBackoffMs(s.failures);
    s.notBefore = this.clock.now() + backoff;
    this.options.logger.error({ domain, agentId, err: error, backoffMs: backoff }, 'domain agent failed to start');
    this.options.onEvent?.({ type: 'spawn_failed', domain, agentId, error });
    this.publishStartFailure(domain, agentId, error, lines);
  }

  /**
   * Keeps the failure in Redis for `dan status`, `dan send --wait` and `dan agents`, which run
   * elsewhere and may never see this process's console. Best effort: with Redis away, only the
   * log line above tells.
   */
  private publishStartFailure(domain: string, agentId: string, reason: string, lines: string[]): void {
    this.countSpawn(domain, 'failed');
    const secrets = knownSecrets();
    const failure = { domain, agentId, at: new Date(this.clock.now()).toISOString(), reason: redactText(reason, secrets), lines: lines.map((line) => redactText(line, secrets)) };
    void recordStartFailure(this.options.redis, this.options.keys, failure).catch((err: Error) => {
      this.options.logger.debug({ domain, err: err.message }, 'could not record the start failure in Redis');
    });
  }

  /** dan_agent_spawns_total and dan_agent_spawn_failures_total, in Redis for every scrape; best effort, like the start failure. */
  private countSpawn(domain: string, outcome: 'started' | 'failed'): void {
    void recordSpawn(this.options.redis, this.options.keys, domain, outcome).catch((err: Error) => {
      this.options.logger.debug({ domain, err: err.message }, 'could not count the spawn in Redis');
    });
  }

  private async handleExit(exit: AgentExit): Promise<void> {
    const o = this.options;
    const s = this.domainState(exit.domain);
    const wasStarting = s.starting.delete(exit.agentId);
    const wasReady = s.ready.delete(exit.agentId);
    if (wasReady) void o.registry.forgetSpawned(exit.agentId).catch(() => undefined);
    o.onEvent?.({ type: 'agent_exited', domain: exit.domain, agentId: exit.agentId, code: exit.code, signal: exit.signal });
    if (exit.code === 0) {
      s.failures = 0;
      o.logger.info({ domain: exit.domain, agentId: exit.agentId }, 'domain agent stopped');
      return;
    }
    // It is gone for certain: hand its tasks back now rather than waiting for its heartbeat to lapse.
    // An agent that had come up and then died (killed, out of memory) is replaced after the first
    // backoff step; only agents that die before their first heartbeat make the backoff grow, so a
    // domain whose healthy agents keep dying is not left without one for up to 30 s.
    s.failures = wasReady ? 1 : s.failures + 1;
    s.notBefore = this.clock.now() + restartBackoffMs(s.failures);
    o.logger.warn({ domain: exit.domain, agentId: exit.agentId, code: exit.code, signal: exit.signal }, 'domain agent exited unexpectedly');
    if (wasStarting) {
      // A crash before the first heartbeat (a bad setting, a broken domain.md): its last words say why.
      const lines = await o.spawner.lastLines(exit.agentId, 20).catch(() => []);
      this.publishStartFailure(exit.domain, exit.agentId, `exited before its first heartbeat (${exit.signal ?? `code ${exit.code}`})`, lines);
    }
    await this.cleanUpAfter(exit);
  }

  /** Deregisters a dead agent and hands its tasks back; if Redis is away, tries again on the next tick. */
  private async cleanUpAfter(exit: AgentExit): Promise<void> {
    const o = this.options;
    try {
      await o.registry.deregister(exit.agentId, 'domain', exit.domain);
      const { requeued } = await this.queue(exit.domain).reclaimOwnedBy(exit.agentId, `agent ${exit.agentId} exited (${exit.signal ?? `code ${exit.code}`})`);
      if (requeued > 0) o.logger.info({ domain: exit.domain, agentId: exit.agentId, requeued }, 'handed its tasks back');
    } catch (error) {
      this.pendingCleanups.push(exit);
      o.logger.warn({ agentId: exit.agentId, err: (error as Error).message }, 'cleanup after an agent exit failed; retrying on the next tick');
    }
  }

  private async sweepDeadAgents(): Promise<void> {
    const o = this.options;
    for (const agent of await o.registry.sweep()) {
      let requeued = 0;
      if (agent.role === 'domain' || agent.role === 'main') {
        const domain = agent.role === 'main' ? 'main' : agent.domain_type;
        requeued = (await this.queue(domain).reclaimOwnedBy(agent.agent_id, `agent ${agent.agent_id} stopped heartbeating`)).requeued;
      }
      if (this.state.get(agent.domain_type)?.ready.delete(agent.agent_id)) await o.registry.forgetSpawned(agent.agent_id);
      o.logger.warn({ agentId: agent.agent_id, domain: agent.domain_type, requeued }, 'swept an agent whose heartbeat lapsed');
      // Its process may still run: wedged in a loop that never yields (so it ignores SIGTERM), or
      // stopped. Left alone it would spin at full CPU, or wake and finish work already handed to
      // another agent; stop it, killed after the grace. Not awaited: the tick goes on meanwhile.
      o.spawner.stop(agent.agent_id, SWEPT_AGENT_GRACE_MS).catch((error: Error) =>
        o.logger.warn({ agentId: agent.agent_id, err: error.message }, 'could not stop a swept agent'));
      o.onEvent?.({ type: 'agent_swept', domain: agent.domain_type, agentId: agent.agent_id, requeued });
    }
  }

  private async deadLetterUnknownDomains(known: Set<string>): Promise<void> {
    const o = this.options;
    for (const domain of await domainsWithPendingQueues(o.redis, o.keys)) {
      if (domain === 'main' || known.has(domain)) continue;
      const reason = `unknown domain '${domain}'; known domains: ${[...known].sort().join(', ')}`;
      const count = await this.queue(domain).deadLetterPending(reason);
      if (count > 0) {
        o.logger.warn({ domain, count }, 'dead-lettered tasks sent to an unknown domain');
        o.onEvent?.({ type: 'dead_lettered', domain, count, reason });
      }
    }
  }
}
