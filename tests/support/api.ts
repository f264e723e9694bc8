import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import { loadConfig } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { ApiKeys, type ApiRole } from '../../lib/redis/api-keys.js';
import { Keys } from '../../lib/redis/keys.js';
import { buildApiServer } from '../../src/api/api-server.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from './redis.js';

export interface TestApi {
  app: FastifyInstance;
  redis: Redis;
  keys: Keys;
  config: Config;
  prefix: string;
  /** A new key for `client`; its header to send with `inject`. */
  key(client: string, role?: ApiRole): Promise<{ key: string; id: string; headers: Record<string, string> }>;
  /** How many keys exist under this test's prefix. */
  keyCount(): Promise<number>;
  close(): Promise<void>;
}

export type TestKey = Awaited<ReturnType<TestApi['key']>>;

/** A new API key for `client` under `keys`' prefix, and its header to send. */
export async function createTestKey(redis: Redis, keys: Keys, client: string, role: ApiRole = 'submit'): Promise<TestKey> {
  const { key, record } = await new ApiKeys(redis, keys).create(client, role);
  return { key, id: record.id, headers: { authorization: `Bearer ${key}` } };
}

/** The HTTP API in this process, on its own key prefix of the test Redis; `inject` needs no socket. */
export async function startTestApi(options: { env?: Record<string, string>; requireKey?: boolean } = {}): Promise<TestApi> {
  const prefix = uniquePrefix('api');
  const { redis, cleanup } = await connectTestRedis(prefix);
  const config = loadConfig({}, { REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, ...options.env });
  const keys = new Keys(prefix);
  const app = await buildApiServer({ redis, keys, config, logger: silentLogger, requireKey: options.requireKey ?? false });
  return {
    app, redis, keys, config, prefix,
    key: (client, role = 'submit') => createTestKey(redis, keys, client, role),
    keyCount: async () => (await redis.keys(`${prefix}*`)).length,
    close: async () => {
      await app.close();
      await cleanup();
    },
  };
}
