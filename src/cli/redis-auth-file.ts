import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REDIS_ROLES, REDIS_USERS, urlForRole, type RedisPasswords, type RedisRole } from '../../lib/redis/acl.js';

/**
 * Where `dan up` leaves the address and passwords of the private Redis it started, so every `dan`
 * command run in the same folder finds it without a REDIS_URL. Mode 0600 in a 0700 folder: only
 * the user who ran `dan up` can read it. Nothing prints its passwords.
 */
export const REDIS_AUTH_FILE = path.join('.dan', 'redis-auth.json');

export interface RedisAuth {
  /**
   * The redis-server process: a file whose server is gone is stale and ignored. The server's, not
   * `dan up`'s: a server that outlived a killed `dan up` still needs its passwords (the next
   * `dan up` here takes over through them).
   */
  pid: number;
  /** The server's URL without credentials. */
  url: string;
  passwords: RedisPasswords;
}

/** Writes the file (0600) in its folder (0700), replacing any earlier one. */
export function writeRedisAuth(auth: RedisAuth, file = REDIS_AUTH_FILE): void {
  const dir = path.dirname(path.resolve(file));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  rmSync(file, { force: true });
  writeFileSync(file, `${JSON.stringify(auth, null, 2)}\n`, { mode: 0o600 });
}

export function removeRedisAuth(file = REDIS_AUTH_FILE): void {
  rmSync(file, { force: true });
}

/** The file's content when it exists, is well formed and its redis-server still runs; else undefined. */
export function readRedisAuth(file = REDIS_AUTH_FILE): RedisAuth | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { pid, url, passwords } = raw as Partial<RedisAuth>;
  if (typeof pid !== 'number' || typeof url !== 'string' || typeof passwords !== 'object' || passwords === null) return undefined;
  if (!REDIS_ROLES.every((role) => typeof passwords[role] === 'string')) return undefined;
  return processRuns(pid) ? { pid, url, passwords } : undefined;
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/**
 * The Redis URL a `dan` command uses as `role`. A REDIS_URL given explicitly (flag, environment or
 * .env) wins when it carries credentials or names another server; one that names the private
 * Redis of a running `dan up` here (same port on this machine) gets the file's credentials; with
 * none given, the file's server is used. Without a file, `configured` (the default) stays.
 */
export function resolveRedisUrl(explicit: string | undefined, configured: string, role: RedisRole, auth: RedisAuth | undefined): string {
  if (!auth) return explicit ?? configured;
  if (!explicit) return urlForRole(auth.url, role, auth.passwords[role]);
  let given: URL;
  let theirs: URL;
  try {
    given = new URL(explicit);
    theirs = new URL(auth.url);
  } catch {
    return explicit;
  }
  if (given.username || given.password) return explicit;
  const samePort = (given.port || '6379') === (theirs.port || '6379');
  if (!LOCAL_HOSTS.has(given.hostname) || !samePort || given.protocol !== theirs.protocol) return explicit;
  return urlForRole(explicit, role, auth.passwords[role]);
}

/**
 * The URL domain agents get when the main orchestrator connects at `mainUrl`: the restricted `agent`
 * user's when `mainUrl` is the `main` user of the file's server (a `dan up` taking over a server
 * an earlier one left running); otherwise `mainUrl` itself (a Redis with one password for all).
 */
export function agentUrlFor(mainUrl: string, auth: RedisAuth | undefined): string {
  if (!auth) return mainUrl;
  let parsed: URL;
  try {
    parsed = new URL(mainUrl);
  } catch {
    return mainUrl;
  }
  const isMain = decodeURIComponent(parsed.username) === REDIS_USERS.main && decodeURIComponent(parsed.password) === auth.passwords.main;
  return isMain ? urlForRole(mainUrl, 'agent', auth.passwords.agent) : mainUrl;
}
