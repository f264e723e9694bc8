import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { isoNow, systemClock } from '../clock.js';
import type { AgentInfo, AgentRole } from '../protocol/agent.js';
import type { Keys } from './keys.js';
import { deregisterScript, heartbeatScript } from './lua/registry-scripts.js';

/** Whether an agent's heartbeat key is current, for a check that needs nothing else (the container healthcheck). */
export async function hasHeartbeat(redis: Redis, keys: Keys, agentId: string): Promise<boolean> {
  return (await redis.exists(keys.heartbeat(agentId))) === 1;
}

export interface RegisterInput {
  agentId: string;
  role: AgentRole;
  domain: string;
  containerId?: string;
  status?: string;
  extra?: Record<string, string>;
}

export interface AgentView extends AgentInfo {
  alive: boolean;
  /**
   * A domain agent with a live heartbeat that the running main orchestrator neither started nor adopted
   * (registered by hand, or left by an earlier main): it does not count toward its domain's agents.
   */
  unexplained: boolean;
}

/**
 * The agent registry of protocol.md: sets per role, an info hash, and a heartbeat key whose expiry
 * is the agent's liveness. The main orchestrator sweeps agents whose heartbeat lapsed.
 */
/**
 * When each connection last came back after an outage, on each clock: one `ready` listener per
 * connection and clock, however many registries are built on it (`dan serve` builds one per request,
 * and a listener per registry would pile up on its one connection for as long as it runs).
 */
const reconnects = new WeakMap<Redis, Map<Clock, { wasReady: boolean; at: number }>>();

function reconnectWatch(redis: Redis, clock: Clock): { wasReady: boolean; at: number } {
  let byClock = reconnects.get(redis);
  if (byClock === undefined) reconnects.set(redis, byClock = new Map());
  let watch = byClock.get(clock);
  if (watch === undefined) {
    const state = { wasReady: redis.status === 'ready', at: Number.NEGATIVE_INFINITY };
    redis.on('ready', () => {
      if (state.wasReady) state.at = clock.now();
      state.wasReady = true;
    });
    byClock.set(clock, watch = state);
  }
  return watch;
}

export class HeartbeatRegistry {
  private readonly reconnect: { wasReady: boolean; at: number };
  /**
   * After this registry's connection comes back from an outage, `sweep` takes nobody for dead for
   * this long: every agent lost Redis at the same time, and each needs a moment to reconnect and beat
   * before its lapsed heartbeat key means anything again.
   */
  readonly reconnectGraceMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlMs: number,
    private readonly clock: Clock = systemClock,
    options: { reconnectGraceMs?: number } = {},
  ) {
    // One whole expiry (30 s by default), at least 2 s: after an outage every agent gets the time to
    // beat that it gets at any other moment. Agents reconnect within 0.5 s of Redis answering and beat
    // at once, but on a loaded host a process can take seconds to get there.
    this.reconnectGraceMs = options.reconnectGraceMs ?? Math.max(ttlMs, 2_000);
    this.reconnect = reconnectWatch(redis, clock);
  }

  /** Calls `listener` each time the connection is back after an outage (not on the first connect). */
  onReconnect(listener: () => void): () => void {
    let seenReady = this.redis.status === 'ready';
    const handler = () => {
      if (seenReady) listener();
      seenReady = true;
    };
    this.redis.on('ready', handler);
    return () => void this.redis.off('ready', handler);
  }

  async register(input: RegisterInput): Promise<void> {
    const k = this.keys;
    const now = isoNow(this.clock);
    const info: Record<string, string> = {
      agent_id: input.agentId,
      role: input.role,
      domain_type: input.domain,
      status: input.status ?? 'idle',
      container_id: input.containerId ?? '',
      created_at: now,
      last_heartbeat: now,
      ...input.extra,
    };
    const tx = this.redis.multi().sadd(k.agentsAll(), input.agentId);
    if (input.role === 'domain') tx.sadd(k.agentsDomains(), input.agentId).sadd(k.agentsOfDomain(input.domain), input.agentId);
    if (input.role === 'worker') tx.sadd(k.agentsWorkers(), input.agentId);
    if (input.role === 'main') tx.set(k.agentsMain(), input.agentId);
    await tx.hset(k.agentInfo(input.agentId), info).set(k.heartbeat(input.agentId), now, 'PX', this.ttlMs).exec();
  }

  /** One round trip for an agent and all its workers; returns ids that were deregistered meanwhile. */
  async heartbeat(agents: { agentId: string; status: string }[]): Promise<string[]> {
    if (agents.length === 0) return [];
    return (await heartbeatScript.run(this.redis, {
      keys: {},
      args: { keyPrefix: this.keys.prefix, nowIso: isoNow(this.clock), ttlMs: this.ttlMs },
      rest: agents.flatMap((a) => [a.agentId, a.status]),
    })) as string[];
  }

  /** Removes an agent from every registry key; `role` is kept for callers, the keys do not depend on it. */
  async deregister(agentId: string, _role: AgentRole | string, domain: string): Promise<void> {
    const k = this.keys;
    await deregisterScript.run(this.redis, {
      keys: {
        all: k.agentsAll(), domains: k.agentsDomains(), workers: k.agentsWorkers(), ofDomain: k.agentsOfDomain(domain),
        info: k.agentInfo(agentId), heartbeat: k.heartbeat(agentId), main: k.agentsMain(),
      },
      args: { agentId, domain },
    });
  }

  /** The registered main orchestrator's id (`agents:main`), if one is registered. */
  async mainAgentId(): Promise<string | undefined> {
    return (await this.redis.get(this.keys.agentsMain())) ?? undefined;
  }

  async isAlive(agentId: string): Promise<boolean> {
    return hasHeartbeat(this.redis, this.keys, agentId);
  }

  /**
   * Live agent ids of a domain. Right after a Redis outage (see `reconnectGraceMs`) a registered agent
   * counts as live even if its heartbeat lapsed meanwhile, so nobody starts a duplicate of it.
   */
  async liveDomainAgents(domain: string): Promise<string[]> {
    const ids = await this.redis.smembers(this.keys.agentsOfDomain(domain));
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.exists(this.keys.heartbeat(id)).exists(this.keys.agentInfo(id));
    const replies = (await pipeline.exec()) ?? [];
    const grace = this.inReconnectGrace();
    return ids.filter((_, i) => replies[2 * i]?.[1] === 1 || (grace && replies[2 * i + 1]?.[1] === 1));
  }

  /** True for `reconnectGraceMs` after this registry's connection came back from an outage. */
  inReconnectGrace(): boolean {
    return this.clock.now() - this.reconnect.at < this.reconnectGraceMs;
  }

  /** Records that the main orchestrator's spawner started (or adopted) this domain agent and it is up. */
  async recordSpawned(agentId: string): Promise<void> {
    await this.redis.sadd(this.keys.agentsSpawned(), agentId);
  }

  /** Forgets a spawned agent that exited or was swept. */
  async forgetSpawned(agentId: string): Promise<void> {
    await this.redis.srem(this.keys.agentsSpawned(), agentId);
  }

  /** A starting main orchestrator forgets what an earlier one spawned; it records what it adopts. */
  async clearSpawned(): Promise<void> {
    await this.redis.del(this.keys.agentsSpawned());
  }

  /**
   * Every registered agent with its info and whether its heartbeat is current. With `domains`, agents
   * found only in those domains' sets are listed too (a hand-made registration need not reach
   * `agents:all`), and live domain agents the running main did not start are marked `unexplained`.
   */
  async list(domains: string[] = []): Promise<AgentView[]> {
    const k = this.keys;
    const ids = (await this.redis.sunion(k.agentsAll(), ...domains.map((d) => k.agentsOfDomain(d)))).sort();
    if (ids.length === 0) return [];
    const [spawned, main] = domains.length > 0
      ? await Promise.all([this.redis.smembers(k.agentsSpawned()), this.mainAgentId()])
      : [[], undefined];
    const explained = new Set(spawned);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.agentInfo(id)).exists(this.keys.heartbeat(id));
    const replies = (await pipeline.exec()) ?? [];
    return ids.map((id, i) => {
      const info = (replies[2 * i]?.[1] ?? {}) as Record<string, string>;
      return {
        agent_id: id,
        role: (info['role'] ?? 'worker') as AgentRole,
        domain_type: info['domain_type'] ?? '',
        status: info['status'] ?? 'unknown',
        container_id: info['container_id'] ?? '',
        created_at: info['created_at'] ?? '',
        last_heartbeat: info['last_heartbeat'] ?? '',
        pid: info['pid'],
        parent_agent: info['parent_agent'],
        task_id: info['task_id'],
        alive: replies[2 * i + 1]?.[1] === 1,
        // Judged only while a main orchestrator is registered: without one, nothing is spawned at all.
        unexplained: main !== undefined && info['role'] !== 'main' && info['role'] !== 'worker' && replies[2 * i + 1]?.[1] === 1 && !explained.has(id),
      };
    });
  }

  /**
   * Whether an agent's last recorded beat is a whole expiry old, so its missing heartbeat key lapsed.
   * A key that is gone sooner was deleted (by hand, or by a tool cleaning keys) while the agent still
   * beats: its next beat re-creates the key, and sweeping it meanwhile would hand its running tasks to
   * a second agent. A beat time that cannot be read, or lies ahead by more than an expiry, proves nothing.
   */
  private beatLapsed(lastHeartbeat: string): boolean {
    const at = Date.parse(lastHeartbeat);
    const age = this.clock.now() - at;
    return Number.isNaN(at) || age >= this.ttlMs || age < -this.ttlMs;
  }

  /**
   * Removes agents whose heartbeat expired and returns them, so the caller can hand their leased
   * tasks back. Safe to run from several places: deregistering twice is harmless. Right after a Redis
   * outage it removes nobody (see `reconnectGraceMs`): a heartbeat that lapsed while Redis was away
   * says nothing about the agent.
   */
  async sweep(): Promise<AgentView[]> {
    if (this.inReconnectGrace()) return [];
    const listed = await this.list();
    // Asked while Redis was away, answered once it was back: the answer is from before anyone beat.
    if (this.inReconnectGrace()) return [];
    const dead = listed.filter((agent) => !agent.alive && this.beatLapsed(agent.last_heartbeat));
    for (const agent of dead) await this.deregister(agent.agent_id, agent.role, agent.domain_type);
    // An id whose info hash is gone was being deregistered by its own agent between the two reads
    // above: tidied up, but not reported as a dead agent.
    return dead.filter((agent) => agent.created_at !== '');
  }
}
