import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import type { StartFailure } from '../../lib/redis/domain-starts.js';
import { readStartFailures } from '../../lib/redis/domain-starts.js';
import { readScaling, type DomainScaling } from '../../lib/redis/domain-scaling.js';
import { readModelPauses, type ModelPause } from '../../lib/redis/model-rate-limit.js';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import type { Keys } from '../../lib/redis/keys.js';
import { queueStates, waitingCount } from '../../lib/redis/queue-counts.js';
import { knownDomains } from './known-domains.js';

export interface QueueCounts {
  domain: string;
  pending: number;
  /** The pending ones by where they wait: not yet sorted (`incoming`), ready per priority, delayed for a retry. */
  waiting: { incoming: number; high: number; normal: number; low: number; delayed: number };
  running: number;
  dead: number;
  /** Tasks in status `waiting` on their dependencies: in no queue, not in `pending`, and no reason to start an agent. */
  waiting_on_dependencies: number;
}

/** The registered agents, the work waiting per domain and why a domain cannot start: what `dan agents` and `GET /agents` show. */
export interface NetworkOverview {
  agents: Awaited<ReturnType<HeartbeatRegistry['list']>>;
  queues: QueueCounts[];
  start_failures: StartFailure[];
  /** What the main orchestrator last published per domain (backlog, live and desired agents), with why work waits when it does. */
  scaling: ScalingView[];
  /** Models a 429 paused for every agent: no new domain starts until their pause ends. */
  model_pauses: ModelPause[];
}

export interface ScalingView extends DomainScaling {
  /** Set when tasks wait and no agent serves the domain: what a person should know. */
  waiting?: string;
}

/** Why a domain's tasks wait in external mode, where main starts no agent to take them. */
export const WAITING_EXTERNAL = 'waiting: no agent; external mode starts none';

/** The published numbers, each with the reason its tasks wait if they wait for an agent nobody will start. */
export function scalingViews(rows: readonly DomainScaling[]): ScalingView[] {
  return rows.map((r) => (r.spawner === 'external' && r.backlog > 0 && r.live === 0 ? { ...r, waiting: WAITING_EXTERNAL } : { ...r }));
}

export async function networkOverview(redis: Redis, keys: Keys, config: Config): Promise<NetworkOverview> {
  const known = await knownDomains(redis, keys, config);
  const agents = await new HeartbeatRegistry(redis, keys, config.heartbeatTtlMs).list(known);
  const domains = ['main', ...known];
  const [queues, startFailures, scaling, pauses] = await Promise.all([queueCounts(redis, keys, domains), readStartFailures(redis, keys, domains), readScaling(redis, keys, known), readModelPauses(redis, keys)]);
  return { agents, queues, start_failures: startFailures, scaling: scalingViews(scaling), model_pauses: pauses };
}

/** Waiting, running and dead-lettered tasks of each of `domains` (`main` and the known ones): `GET /domains`. */
export async function queueCounts(redis: Redis, keys: Keys, domains: readonly string[]): Promise<QueueCounts[]> {
  return (await queueStates(redis, keys, domains)).map((s) => ({
    domain: s.domain,
    pending: waitingCount(s),
    waiting: { incoming: s.pending, high: s.ready.high, normal: s.ready.normal, low: s.ready.low, delayed: s.delayed },
    running: s.running,
    dead: s.deadLettered,
    waiting_on_dependencies: s.dependencyWaiting,
  }));
}
