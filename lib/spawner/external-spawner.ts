import { DanError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { AgentExit, SpawnedAgent, SpawnRequest, Spawner } from './spawner.js';

/**
 * External mode (DAN_SPAWNER=external): domain agents are started by whatever runs them (Kubernetes,
 * Swarm, systemd, a person running `dist/src/agent.js`), on any host that reaches Redis, and this spawner
 * starts none. Its heartbeat is all that vouches for an agent, so every registered domain agent is adopted
 * as it appears, and counted like one the supervisor started; what the supervisor
 * would start is published instead (desired agents per domain), for an outside autoscaler. It cannot
 * stop what it did not start: an agent whose heartbeat lapsed is swept and its tasks handed back, and
 * whatever runs it decides what happens to its process.
 */
export class ExternalSpawner implements Spawner {
  readonly kind = 'external' as const;
  readonly startsAgents = false;
  private readonly adopted = new Map<string, SpawnedAgent>();

  constructor(private readonly logger: Logger = silentLogger) {}

  /** Never called by the supervisor (`startsAgents` is false); refused for any other caller. */
  async spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    throw new DanError('spawn_failed', `cannot start agent ${request.agentId}: DAN_SPAWNER=external starts no agents; start one where the network runs its agents (AGENT_ROLE=domain DOMAIN_TYPE=${request.domain} node dist/src/agent.js)`);
  }

  /** Forgets the agent; its process belongs to whatever started it. */
  async stop(agentId: string): Promise<void> {
    if (this.adopted.delete(agentId)) this.logger.info({ agentId }, 'external agent no longer counted; whatever started it owns its process');
  }

  list(): SpawnedAgent[] {
    return [...this.adopted.values()].map((agent) => ({ ...agent }));
  }

  /** Its output goes wherever its runner keeps it (journald, kubectl logs), and to `dan logs`. */
  async lastLines(): Promise<string[]> {
    return [];
  }

  /** No exit is ever seen from here: a lapsed heartbeat is how an external agent's end is noticed. */
  onExit(_listener: (exit: AgentExit) => void): void {}

  /** Any registered domain agent: the heartbeat the supervisor saw, in the domain it registered for, is the evidence. */
  async adoptLate(agentId: string, domain: string): Promise<SpawnedAgent | undefined> {
    const agent = this.adopted.get(agentId) ?? { agentId, domain, handle: `external:${agentId}`, startedAt: Date.now() };
    this.adopted.set(agentId, agent);
    return { ...agent };
  }

  async close(): Promise<void> {
    this.adopted.clear();
  }
}
