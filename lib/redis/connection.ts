import { Redis } from 'ioredis';
import { DanError, ExitCode, RedisUnreachableError, redactUrl } from '../errors.js';
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
 * Longest pause between two reconnect attempts. 500 ms: after an outage, work resumes well within the
 * 2 s goal of Redis answering again, and a refused connect every half second costs Redis nothing.
 */
export const RECONNECT_CAP_MS = 500;

/** Pause before reconnect attempt `times` (1, 2, ...): 50, 100, 200, 400, then the cap. */
export function reconnectDelayMs(times: number): number {
  return Math.min(25 * 2 ** Math.min(Math.max(times, 1), 10), RECONNECT_CAP_MS);
}

/**
 * Connects to Redis and resolves once it answers. Agents keep retrying after an outage (at most
 * RECONNECT_CAP_MS apart) and pending commands run once it is back; `failFast` connections throw
 * `RedisUnreachableError` naming the URL instead. `rediss://` URLs use TLS (a private CA through
 * NODE_EXTRA_CA_CERTS), and a password in the URL authenticates. The password never reaches a log.
 */
export async function connectRedis(url: string, options: RedisConnectOptions = {}): Promise<Redis> {
  const logger = options.logger ?? silentLogger;
  let connectedOnce = false;
  let lostAt: number | undefined;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectionName: options.name,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    maxRetriesPerRequest: options.blocking ? null : 20,
    // Commands issued in the same tick leave in one write (one syscall instead of one each); a
    // blocking or subscribing connection keeps one command in flight, so it stays off there.
    enableAutoPipelining: !options.blocking,
    // Redis that is still loading its append-only file after a restart is asked again every 100 ms,
    // not after its own estimate (at least 1 s), so agents are back as soon as it serves.
    maxLoadingRetryTime: 100,
    retryStrategy: (times) => (options.failFast && !connectedOnce ? null : reconnectDelayMs(times)),
  });
  const where = { redis: redactUrl(url), ...(options.name ? { connection: options.name } : {}) };
  let firstError: Error | undefined;
  redis.on('error', (error: Error) => {
    firstError ??= error;
    // One line per outage, not one per attempt.
    if (!connectedOnce || lostAt !== undefined) return;
    lostAt = Date.now();
    logger.warn({ ...where, err: redactUrl(error.message) }, 'redis connection lost; reconnecting');
  });
  // Emitted only when a reconnect is scheduled, never for a connection closed on purpose.
  redis.on('reconnecting', () => {
    if (connectedOnce && lostAt === undefined) {
      lostAt = Date.now();
      logger.warn(where, 'redis connection lost; reconnecting');
    }
  });
  redis.on('ready', () => {
    if (connectedOnce && lostAt !== undefined) logger.info({ ...where, downMs: Date.now() - lostAt }, 'redis connection restored');
    lostAt = undefined;
    connectedOnce = true;
  });
  // A second disconnect of a closed connection would arm ioredis' 2 s "destroy the socket" timer with
  // no socket left to close, holding the process open for 2 s at exit: make it a no-op.
  const disconnect = redis.disconnect.bind(redis);
  redis.disconnect = (reconnect = false) => {
    if (!reconnect && redis.status === 'end') return;
    disconnect(reconnect);
  };
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw connectError(url, firstError ?? (error as Error));
  }
  return redis;
}

/**
 * The error a failed connect ends with: a refused password or an untrusted certificate says so and
 * how to fix it (the server answered, so "not reachable" would send the user the wrong way); anything
 * else is `RedisUnreachableError`. Both exit 3, and neither shows the password.
 */
export function connectError(url: string, cause: Error): DanError {
  const where = redactUrl(url);
  const reason = redactUrl(cause.message).split('\n')[0] ?? '';
  if (/WRONGPASS|invalid password|invalid username-password/i.test(reason)) {
    return new DanError('redis_auth', `Redis at ${where} refused the credentials in REDIS_URL (${reason.replace(/\.$/, '')}): check the password ('redis://:PASSWORD@host:port')`, { exitCode: ExitCode.redisUnreachable, cause });
  }
  if (/NOAUTH|Authentication required/i.test(reason)) {
    return new DanError('redis_auth', `Redis at ${where} requires a password: put it in REDIS_URL as 'redis://:PASSWORD@host:port'`, { exitCode: ExitCode.redisUnreachable, cause });
  }
  if (/without any password configured|AUTH <password> called without/i.test(reason)) {
    return new DanError('redis_auth', `Redis at ${where} has no password set but REDIS_URL gives one: remove it from REDIS_URL, or set requirepass on the server`, { exitCode: ExitCode.redisUnreachable, cause });
  }
  const code = (cause as NodeJS.ErrnoException).code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code) || /certificate/i.test(reason)) {
    return new DanError('redis_tls', `Redis at ${where} presented a TLS certificate this machine does not trust (${reason}): point NODE_EXTRA_CA_CERTS at the CA certificate that signed it`, { exitCode: ExitCode.redisUnreachable, cause });
  }
  return new RedisUnreachableError(url, cause);
}

/** Whether Redis answers a PING now; for readiness checks, which must not wait on reconnects. */
export async function redisAnswers(redis: Redis): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  try {
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  }
}
