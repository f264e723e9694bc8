import type { Redis } from 'ioredis';
import type { Clock } from '../../lib/clock.js';
import { systemClock } from '../../lib/clock.js';
import type { Config } from '../../lib/config.js';
import { readScaling, type DomainScaling } from '../../lib/redis/domain-scaling.js';
import { readModelPauses, type ModelPause } from '../../lib/redis/model-rate-limit.js';
import type { AgentView, HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import type { Keys } from '../../lib/redis/keys.js';
import { queueStates, type QueueStates } from '../../lib/redis/queue-counts.js';
import { readMetricCounters, type MetricCounters } from '../../lib/redis/task-metrics.js';
import { knownDomains } from './known-domains.js';

/** What one /metrics scrape reports: the queues and agents as they are now, and the counters kept in Redis. */
export interface MetricsSnapshot {
  queues: QueueStates[];
  agents: AgentView[];
  counters: MetricCounters;
  /** What the main orchestrator last published per domain: backlog, live and desired agents. */
  scaling: DomainScaling[];
  /** Models a 429 paused for every agent, with the time left. */
  modelPauses: ModelPause[];
  /** When it was read, for heartbeat ages. */
  nowMs: number;
}

/**
 * Reads everything a scrape reports in a handful of round trips (the known domains, the agent
 * registry, one pipeline of queue lengths, one of counters, one of the published scaling numbers), whatever the number of tasks: lengths
 * and counters are O(1) reads, so 100,000 waiting tasks cost a scrape what 10 do. `registry` is made
 * once per connection by the caller: a HeartbeatRegistry listens on its connection for as long as it lives.
 */
export async function metricsSnapshot(redis: Redis, keys: Keys, config: Config, registry: HeartbeatRegistry, clock: Clock = systemClock): Promise<MetricsSnapshot> {
  const known = await knownDomains(redis, keys, config);
  const domains = [...new Set(['main', ...known])];
  const [queues, agents, counters, scaling, modelPauses] = await Promise.all([
    queueStates(redis, keys, domains),
    registry.list(known),
    readMetricCounters(redis, keys),
    readScaling(redis, keys, known),
    readModelPauses(redis, keys),
  ]);
  return { queues, agents, counters, scaling, modelPauses, nowMs: clock.now() };
}
