import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { connectRedis } from '../redis/connection.js';
import { HeartbeatRegistry } from '../redis/heartbeat-registry.js';
import { Keys } from '../redis/keys.js';

/** The Redis connections one agent process holds: commands, one blocking reader, one subscriber. */
export interface AgentConnections {
  redis: Redis;
  blocking: Redis;
  subscriber: Redis;
  keys: Keys;
  registry: HeartbeatRegistry;
  close(): void;
}

export async function openAgentConnections(config: Config, agentId: string, logger: Logger): Promise<AgentConnections> {
  // Side by side: an agent's start-up waits for one connect, not three in a row.
  const opened = await Promise.allSettled([
    connectRedis(config.redisUrl, { name: agentId, logger, waitReplicas: config.redisWait }),
    connectRedis(config.redisUrl, { name: `${agentId}:blocking`, logger, blocking: true }),
    connectRedis(config.redisUrl, { name: `${agentId}:subscriber`, logger, blocking: true }),
  ]);
  const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) {
    for (const o of opened) if (o.status === 'fulfilled') o.value.disconnect();
    throw failed.reason;
  }
  const [redis, blocking, subscriber] = opened.map((o) => (o as PromiseFulfilledResult<Redis>).value) as [Redis, Redis, Redis];
  const keys = new Keys(config.keyPrefix);
  return {
    redis, blocking, subscriber, keys,
    registry: new HeartbeatRegistry(redis, keys, config.heartbeatTtlMs),
    close() {
      blocking.disconnect();
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}
