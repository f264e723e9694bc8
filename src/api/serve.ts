import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../lib/config.js';
import { DanError, ExitCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { ApiKeys } from '../../lib/redis/api-keys.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { buildApiServer } from './api-server.js';

/** Whether `host` is a loopback address, where only this machine's users reach the API. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1' || host === '[::1]';
}

export interface RunningApi {
  url: string;
  app: FastifyInstance;
  stop(): Promise<void>;
}

/**
 * Starts `dan serve`: connects to Redis (exit 3 when it does not answer), refuses a non-loopback
 * `host` while no API key exists (exit 2: anyone who reaches the port could send jobs), then listens.
 * With `requireKeys` it listens anyway and answers every request but /health 401 until a key exists
 * (compose's `api` service: it starts before anyone could have made a key).
 */
export async function startApi(options: { config: Config; logger: Logger; host: string; port: number; requireKeys?: boolean }): Promise<RunningApi> {
  const { config, logger, host, port } = options;
  const redis = await connectRedis(config.redisUrl, { name: 'dan-serve', failFast: true, logger, connectTimeoutMs: 3_000, waitReplicas: config.redisWait });
  const keys = new Keys(config.keyPrefix);
  try {
    const requireKey = options.requireKeys === true || !isLoopback(host);
    if (requireKey && options.requireKeys !== true && !(await new ApiKeys(redis, keys).any())) {
      throw new DanError('non_loopback_without_keys',
        `refusing to listen on ${host} without API keys: anyone who reaches it could send jobs. Create one with 'dan keys create --client <name>', keep --host 127.0.0.1, or pass --require-keys to listen and refuse every request until a key exists`,
        { exitCode: ExitCode.usage });
    }
    const app = await buildApiServer({ redis, keys, config, logger, requireKey });
    try {
      await app.listen({ host, port });
    } catch (error) {
      await app.close();
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new DanError('port_in_use', `port ${port} on ${host} is in use: pick another with --port`, { exitCode: ExitCode.usage, cause: error });
      if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new DanError('invalid_input', `cannot listen on ${host}: not an address of this machine; pass --host 127.0.0.1 or one of its addresses`, { exitCode: ExitCode.usage, cause: error });
      throw error;
    }
    const address = app.server.address();
    const bound = typeof address === 'object' && address !== null ? address.port : port;
    const url = `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${bound}`;
    return {
      url,
      app,
      stop: async () => {
        await app.close();
        redis.disconnect();
      },
    };
  } catch (error) {
    redis.disconnect();
    throw error;
  }
}
