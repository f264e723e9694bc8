import { Redis } from 'ioredis';
import { RedisUnreachableError, redactUrl } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';

export type { Redis } from 'ioredis';

export interface RedisConnectOptions {
  /** Shows in CLIENT LIST, so an operator can tell agents' connections apart. */
  name?: string;
  logger?: Logger;
  /** A connection that runs blocking reads: its commands never time out waiting for a reconnect. */
  blocking?: boolean;
  /** Give up on the first failed connect instead of retrying (the CLI: answer at once, exit 3). */
  failFast?: boolean;
  connectTimeoutMs?: number;
}

/**
 * Connects to Redis and resolves once it answers. Agents keep retrying after an outage (capped at
 * 2 s between tries); `failFast` connections throw `RedisUnreachableError` naming the URL instead.
 * `rediss://` URLs use TLS, and a password in the URL authenticates.
 */
export async function connectRedis(url: string, options: RedisConnectOptions = {}): Promise<Redis> {
  const logger = options.logger ?? silentLogger;
  let connectedOnce = false;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectionName: options.name,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    maxRetriesPerRequest: options.blocking ? null : 20,
    enableAutoPipelining: false,
    retryStrategy: (times) => {
      if (options.failFast && !connectedOnce) return null;
      // 2 s cap: work resumes within about 2 s of Redis answering again.
      return Math.min(100 * 2 ** Math.min(times, 5), 2_000);
    },
  });
  redis.on('error', (error: Error) => {
    if (connectedOnce) logger.warn({ err: error.message, redis: redactUrl(url) }, 'redis connection problem; retrying');
  });
  redis.on('ready', () => {
    if (connectedOnce) logger.info({ redis: redactUrl(url) }, 'redis connection restored');
    connectedOnce = true;
  });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new RedisUnreachableError(url, error);
  }
  return redis;
}
