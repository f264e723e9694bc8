import type { Redis } from 'ioredis';
import type { ArgumentsCamelCase } from 'yargs';
import type { Config } from '../../lib/config.js';
import { loadConfig } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { createLogger, knownSecrets } from '../../lib/logger.js';
import type { RedisRole } from '../../lib/redis/acl.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { composeRedisAuth } from './compose-redis-auth.js';
import { readRedisAuth, resolveRedisUrl } from './redis-auth-file.js';

/** Options every command takes. */
export interface GlobalArgs {
  redis?: string;
  json?: boolean;
  prefix?: string;
}

export interface CliContext {
  config: Config;
  logger: Logger;
  json: boolean;
}

/**
 * The Redis user each command connects as when it finds the private Redis of a `dan up` run in
 * this folder (README "Who may do what on Redis"): `up` runs the main orchestrator (which hands its domain agents the `agent` user), `send`, `status`, `tasks`, `logs` and
 * `agents` submit and read, `inspect` only looks; the rest (cancel, dead letters, farm, elf) are
 * the operator's.
 */
const COMMAND_ROLES: Readonly<Record<string, RedisRole>> = { up: 'main', send: 'client', status: 'client', tasks: 'client', logs: 'client', agents: 'client', inspect: 'viewer' };

/** Config from the environment with the command line's `--redis`, `--prefix` and a command's own `settings` winning. */
export function cliContext(argv: ArgumentsCamelCase<GlobalArgs>, logLevel?: string, base: Record<string, unknown> = { agentId: 'cli' }, settings: Record<string, string> = {}): CliContext {
  const overrides = cliOverrides(argv, settings);
  const explicitUrl = argv.redis || process.env['REDIS_URL'] || undefined;
  const role = COMMAND_ROLES[String(argv._[0] ?? '')] ?? 'admin';
  const defaults = loadConfig(process.env, overrides);
  // Not for `dan up` (main): with a compose .env here but no compose running, it starts its own Redis.
  const auth = readRedisAuth() ?? (role === 'main' ? undefined : composeRedisAuth(process.env));
  const redisUrl = resolveRedisUrl(explicitUrl, defaults.redisUrl, role, auth);
  const config = redisUrl === defaults.redisUrl ? defaults : loadConfig(process.env, { ...overrides, REDIS_URL: redisUrl });
  // The password of a --redis URL is not in the environment: name it to the logger's redaction.
  const logger = createLogger({ level: logLevel ?? (process.env['DAN_LOG_LEVEL'] ? config.logLevel : 'warn'), base, secrets: knownSecrets({ REDIS_URL: config.redisUrl }) });
  return { config, logger, json: Boolean(argv.json) };
}

/** The settings the command line sets: `--redis`, `--prefix` and a command's own `settings`. */
export function cliOverrides(argv: ArgumentsCamelCase<GlobalArgs>, settings: Record<string, string> = {}): Record<string, string> {
  const overrides: Record<string, string> = { ...settings };
  if (argv.redis) overrides['REDIS_URL'] = argv.redis;
  if (argv.prefix !== undefined) overrides['DAN_KEY_PREFIX'] = argv.prefix;
  return overrides;
}

/** A short-lived client connection: fails at once (exit 3) with the URL and how to start Redis. */
export async function cliRedis(ctx: CliContext): Promise<{ redis: Redis; keys: Keys }> {
  const redis = await connectRedis(ctx.config.redisUrl, { name: 'dan-cli', failFast: true, logger: ctx.logger, connectTimeoutMs: 3_000, waitReplicas: ctx.config.redisWait });
  return { redis, keys: new Keys(ctx.config.keyPrefix) };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const useColour = Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'];
const PALETTE = ['36', '32', '33', '35', '34', '96', '92', '93', '95', '94'];

/** A stable colour per name, so each agent's lines are told apart at a glance. */
export function colourFor(name: string, text = name): string {
  if (!useColour) return text;
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `\u001b[${PALETTE[hash % PALETTE.length]}m${text}\u001b[0m`;
}

export function dim(text: string): string {
  return useColour ? `\u001b[90m${text}\u001b[0m` : text;
}

export function statusColour(status: string): string {
  if (!useColour) return status;
  const code = status === 'completed' ? '32' : status === 'failed' ? '31' : '33';
  return `\u001b[${code}m${status}\u001b[0m`;
}
