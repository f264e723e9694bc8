import { Redis, type RedisOptions } from 'ioredis';
import { DanError, ExitCode, RedisUnreachableError, redactUrl } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { isSentinelUrl, parseSentinelUrl } from './redis-url.js';
import { reopenWhenEndedByFailover } from './sentinel-reopen.js';

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
  /**
   * After a submit or a finish (`waitForReplicas`), wait until this many replicas have the
   * connection's writes, at most `timeoutMs` (config.redisWait). Unset or 0 replicas: no wait.
   */
  waitReplicas?: { replicas: number; timeoutMs: number };
}

/** The replica wait of each connection that has one (set by `connectRedis`). */
const replicaWaits = new WeakMap<Redis, { replicas: number; timeoutMs: number }>();
/** How many times each connection of `connectRedis` became ready: a change means it reconnected. */
const readyCounts = new WeakMap<Redis, number>();

/**
 * Which connection of `redis` a command runs on: it changes on each reconnect. After a failover
 * ioredis sends unanswered commands again to the new master, so a write made before the change
 * may be there, or may have died with the old master: a caller that compares the two checks.
 */
export function connectionEpoch(redis: Redis): number {
  return readyCounts.get(redis) ?? 0;
}

/**
 * Waits, when the connection was opened with `waitReplicas`, until that many replicas have received
 * every write made on it so far (Redis WAIT), so a failover to one of them keeps the write. Answers
 * `{ confirmed, wanted }`, or undefined without a wait; the caller decides what a shortfall means.
 * WAIT vouches only for writes on the same connection: compare `connectionEpoch` around it.
 */
export async function waitForReplicas(redis: Redis): Promise<{ confirmed: number; wanted: number; timeoutMs: number } | undefined> {
  const wait = replicaWaits.get(redis);
  if (!wait) return undefined;
  return { confirmed: Number(await redis.call('WAIT', wait.replicas, wait.timeoutMs)), wanted: wait.replicas, timeoutMs: wait.timeoutMs };
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
 * NODE_EXTRA_CA_CERTS), and a password in the URL authenticates. `redis+sentinel://` URLs find the
 * master through Sentinel and follow it across failovers. The password never reaches a log.
 */
export async function connectRedis(url: string, options: RedisConnectOptions = {}): Promise<Redis> {
  const logger = options.logger ?? silentLogger;
  let connectedOnce = false;
  let lostAt: number | undefined;
  const retry = (times: number) => (options.failFast && !connectedOnce ? null : reconnectDelayMs(times));
  const common: RedisOptions = {
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
    retryStrategy: retry,
  };
  const redis = isSentinelUrl(url) ? new Redis({ ...common, ...sentinelOptions(url), sentinelRetryStrategy: retry }) : new Redis(url, common);
  const where = { redis: redactUrl(url), ...(options.name ? { connection: options.name } : {}) };
  let firstError: Error | undefined;
  // A Sentinel that answers but names no master for the URL's name: the connect fails on that, not on reachability.
  let noMaster: string | undefined;
  // Once per outage: while the Sentinels name no master, reconnects go on (commands wait for them) and the log says why.
  let noMasterLogged = false;
  redis.on('sentinelError', (error: Error) => {
    if (!/successfully, but got an invalid reply|No such master with that name/.test(error.message)) return;
    noMaster ??= error.message;
    if (!connectedOnce || noMasterLogged) return;
    noMasterLogged = true;
    logger.error({ ...where, err: noMasterError(url).message }, 'redis connection lost: the Sentinels name no master; reconnecting until they do');
  });
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
    readyCounts.set(redis, connectionEpoch(redis) + 1);
    if (connectedOnce && lostAt !== undefined) logger.info({ ...where, downMs: Date.now() - lostAt }, 'redis connection restored');
    lostAt = undefined;
    noMasterLogged = false;
    connectedOnce = true;
  });
  // A second disconnect of a closed connection would arm ioredis' 2 s "destroy the socket" timer with
  // no socket left to close, holding the process open for 2 s at exit: make it a no-op.
  const disconnect = redis.disconnect.bind(redis);
  redis.disconnect = (reconnect = false) => {
    if (!reconnect && redis.status === 'end') return;
    disconnect(reconnect);
  };
  if (options.waitReplicas && options.waitReplicas.replicas > 0) replicaWaits.set(redis, options.waitReplicas);
  // After the first connect only: a first connect that fails is reported, not retried forever.
  if (isSentinelUrl(url)) redis.once('ready', () => reopenWhenEndedByFailover(redis, logger, where, reconnectDelayMs));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    if (noMaster !== undefined) throw noMasterError(url);
    throw connectError(url, firstError ?? (error as Error));
  }
  return redis;
}

/**
 * ioredis options for a `redis+sentinel://` URL (lib/redis/redis-url.ts): ask the Sentinels for the
 * master of the named group on every connect, so a reconnect after a failover reaches the promoted
 * replica, and follow `+switch-master` at once (`failoverDetector`) rather than when the old master's
 * socket dies. The URL's user and password are the master's; the Sentinels' come from its query.
 */
function sentinelOptions(url: string): RedisOptions {
  const target = parseSentinelUrl(url);
  return {
    sentinels: target.sentinels,
    name: target.name,
    db: target.db,
    failoverDetector: true,
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
    ...(target.sentinelUsername ? { sentinelUsername: target.sentinelUsername } : {}),
    ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
  };
}

/** Sentinels answered, but none monitors a master of the URL's name. */
function noMasterError(url: string): DanError {
  const { name, sentinels } = parseSentinelUrl(url);
  const where = sentinels.map(({ host, port }) => `${host}:${port}`).join(',');
  return new DanError(
    'redis_no_master',
    `the Sentinels at ${where} name no master '${name}' (REDIS_URL ${redactUrl(url)}): put the name their 'sentinel monitor NAME host port quorum' line gives after the hosts in REDIS_URL ('redis-cli -p ${sentinels[0]?.port ?? 26379} SENTINEL MASTERS' lists them), or add that line to each Sentinel's configuration`,
    { exitCode: ExitCode.redisUnreachable },
  );
}

/**
 * The error a failed connect ends with: a refused password or an untrusted certificate says so and
 * how to fix it (the server answered, so "not reachable" would send the user the wrong way); anything
 * else is `RedisUnreachableError`. Both exit 3, and neither shows the password.
 */
export function connectError(url: string, cause: Error): DanError {
  const where = redactUrl(url);
  const reason = redactUrl(cause.message).split('\n')[0] ?? '';
  if (isSentinelUrl(url) && /All sentinels are unreachable/.test(reason)) {
    const hosts = parseSentinelUrl(url).sentinels.map(({ host, port }) => `${host}:${port}`).join(',');
    if (/WRONGPASS|NOAUTH|invalid password|invalid username-password|Authentication required/i.test(reason)) {
      return new DanError('redis_auth', `the Sentinels at ${hosts} refused the credentials REDIS_URL gives them (${reason}): set '?sentinel_password=PASSWORD' (and '&sentinel_username=USER' for a Sentinel ACL user) in REDIS_URL; the user and password before '@' are the master's`, { exitCode: ExitCode.redisUnreachable, cause });
    }
    return new DanError('redis_unreachable', `no Sentinel of REDIS_URL answers (${where}): start them, or name Sentinels that run in REDIS_URL ('redis+sentinel://host1:26379,host2:26379/mastername')`, { exitCode: ExitCode.redisUnreachable, cause });
  }
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
