import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import type { StartFailure } from '../../lib/redis/domain-starts.js';
import { readStartFailures } from '../../lib/redis/domain-starts.js';
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
}

/** The registered agents, the work waiting per domain and why a domain cannot start: what `dan agents` and `GET /agents` show. */
export interface NetworkOverview {
  agents: Awaited<ReturnType<HeartbeatRegistry['list']>>;
  queues: QueueCounts[];
  start_failures: StartFailure[];
}

export async function networkOverview(redis: Redis, keys: Keys, config: Config): Promise<NetworkOverview> {
  const known = await knownDomains(redis, keys, config);
  const agents = await new HeartbeatRegistry(redis, keys, config.heartbeatTtlMs).list(known);
  const domains = ['main', ...known];
  return { agents, queues: await queueCounts(redis, keys, domains), start_failures: await readStartFailures(redis, keys, domains) };
}

/** Waiting, running and dead-lettered tasks of each of `domains` (`main` and the known ones): `GET /domains`. */
export async function queueCounts(redis: Redis, keys: Keys, domains: readonly string[]): Promise<QueueCounts[]> {
  return (await queueStates(redis, keys, domains)).map((s) => ({
    domain: s.domain,
    pending: waitingCount(s),
    waiting: { incoming: s.pending, high: s.ready.high, normal: s.ready.normal, low: s.ready.low, delayed: s.delayed },
    running: s.running,
    dead: s.deadLettered,
  }));
}
