import { randomBytes } from 'node:crypto';

/**
 * Starts and stops domain orchestrators. The supervisor in the main orchestrator decides when; a
 * spawner only knows how. Ready means the agent's first heartbeat, which the supervisor watches in
 * the registry: `spawn` resolves once the process or container has started, not when it is ready.
 */
export interface SpawnRequest {
  domain: string;
  /** `{domain}-{8 hex}` (protocol.md). */
  agentId: string;
  /** Environment contract: AGENT_ROLE, AGENT_ID, DOMAIN_TYPE, REDIS_URL plus model settings. */
  env: Record<string, string>;
}

export interface SpawnedAgent {
  agentId: string;
  domain: string;
  /** Process id (as text), container id, or `in-process:{agentId}` for an agent in the spawner's own process. */
  handle: string;
  startedAt: number;
}

export interface AgentExit {
  agentId: string;
  domain: string;
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: string | null;
}

/** Agents of one domain started from one spec (a Swarm service), which share what the spec gives them. */
export interface SpawnGroup {
  /** The group's name (the service's): what its shared model gateway token is issued to. */
  id: string;
  domain: string;
  /** The environment its spec gives every agent of the group. */
  env: Record<string, string>;
}

export interface Spawner {
  /** `in-process`: agents run inside the spawner's own process (tests, demos), sharing its pid. */
  /** `external`: agents are started by whatever runs them (Kubernetes, Swarm, systemd, a person), never by the spawner. */
  readonly kind: 'process' | 'in-process' | 'docker' | 'swarm' | 'external';
  /**
   * False when this spawner starts no agents at all (external): the supervisor then only adopts agents
   * by their heartbeats and publishes how many it would want. Absent means it starts them on demand.
   */
  readonly startsAgents?: false;
  spawn(request: SpawnRequest): Promise<SpawnedAgent>;
  /** Asks the agent to stop (SIGTERM), and kills it after `graceMs`. Resolves once it is gone. */
  stop(agentId: string, graceMs?: number): Promise<void>;
  /** Agents this spawner started (or adopted) that are still running. */
  list(): SpawnedAgent[];
  /** The agent's last output lines, for error messages when it never became ready. */
  lastLines(agentId: string, count?: number): Promise<string[]>;
  /** Called once per agent when its process or container ends, for whatever reason. */
  onExit(listener: (exit: AgentExit) => void): void;
  /**
   * Agents found already running when the spawner started (containers left by a previous main
   * orchestrator, or started by compose), which it now manages; not yet known to be ready.
   */
  adopt?(): SpawnedAgent[];
  /**
   * A running agent this spawner did not start but can vouch for from outside Redis (a container of this
   * network started after it), now managed like an adopted one; undefined when there is none. Asked about
   * registered agents nobody started, so a hand-made registration is never counted as an agent (except by
   * the external spawner, for which a heartbeat in `domain`, the domain the agent registered for, is all there is).
   */
  adoptLate?(agentId: string, domain: string): Promise<SpawnedAgent | undefined>;
  /**
   * The environment agents will be given (their REDIS_URL, ANTHROPIC_BASE_URL), told before adopted
   * agents are counted on: a spawner whose agents reach those services through it (isolated
   * containers) opens the way now, so agents left by a previous main orchestrator keep theirs.
   */
  openServices?(env: Record<string, string>): Promise<void>;
  /**
   * For a spawner whose agents of a domain share one spec (Swarm): the group a spawn for `domain` joins.
   * The spec is written when the group is created, so the `env` of later spawns into it is not used.
   */
  groupOf?(domain: string): string;
  /** The groups that exist now (created, or adopted from a previous main orchestrator), with their spec's environment. */
  groups?(): SpawnGroup[];
  /** Stops everything it started and releases resources. */
  close(graceMs?: number): Promise<void>;
}

/** 8 random hex characters, the instance part of agent ids and container names. */
export function instanceSuffix(): string {
  return randomBytes(4).toString('hex');
}

/**
 * The id of a domain agent named after its container: `{domain}-` and the container id's first 8 hex
 * characters. Swarm replicas share one spec, so each names itself this way (DAN_AGENT_ID_FROM=container)
 * and the Swarm spawner, which sees the container ids of its tasks, knows which agent each one runs.
 */
export function containerAgentId(domain: string, containerId: string): string {
  return `${domain}-${containerId.slice(0, 8)}`;
}
