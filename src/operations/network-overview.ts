import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import type { StartFailure } from '../../lib/redis/domain-starts.js';
import { readStartFailures } from '../../lib/redis/domain-starts.js';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import type { Keys } from '../../lib/redis/keys.js';
import { deadLetterCount } from '../../lib/redis/queue-counts.js';
import type { QueueBreakdown } from '../../lib/redis/task-queue.js';
import { leasedCount, queueBreakdown } from '../../lib/redis/task-queue.js';
import { knownDomains } from './known-domains.js';

export interface QueueCounts {
  domain: string;
  pending: number;
  /** The pending ones by where they wait. */
  waiting: QueueBreakdown;
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
  return Promise.all(domains.map(async (domain) => {
    const waiting = await queueBreakdown(redis, keys, domain);
    return {
      domain,
      pending: waiting.incoming + waiting.high + waiting.normal + waiting.low + waiting.delayed,
      waiting,
      running: await leasedCount(redis, keys, domain),
      dead: await deadLetterCount(redis, keys, domain),
    };
  }));
}
