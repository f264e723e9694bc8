import { InvalidInputError } from '../../lib/errors.js';
import { REDIS_ROLES, type RedisPasswords, type RedisRole } from '../../lib/redis/acl.js';
import type { RedisAuth } from './redis-auth-file.js';

/**
 * The variable that holds each role's password where a Redis is not `dan up`'s own (compose's .env):
 * REDIS_PASSWORD stays the operator's (Redis' `default` user), as it was before the roles were split.
 */
export const PASSWORD_VARIABLES: Readonly<Record<RedisRole, string>> = {
  admin: 'REDIS_PASSWORD', main: 'REDIS_MAIN_PASSWORD', agent: 'REDIS_AGENT_PASSWORD', client: 'REDIS_CLIENT_PASSWORD', viewer: 'REDIS_VIEWER_PASSWORD',
};

// They go into REDIS_URLs unescaped, so URL-safe characters only; 16 at least, since a Redis
// password is tried at network speed.
const PASSWORD_SHAPE = /^[A-Za-z0-9._~-]{16,}$/;

/**
 * The passwords of the five roles from `env`, every problem named at once with its fix. Two roles
 * with one password would be one user to whoever holds it, so they must differ.
 */
export function passwordsFromEnv(env: NodeJS.ProcessEnv): RedisPasswords {
  const problems: string[] = [];
  const passwords = {} as RedisPasswords;
  for (const role of REDIS_ROLES) {
    const name = PASSWORD_VARIABLES[role];
    const value = env[name] ?? '';
    if (value === '') problems.push(`${name} is not set`);
    else if (!PASSWORD_SHAPE.test(value)) problems.push(`${name} must be 16 or more letters, digits or - . _ ~`);
    passwords[role] = value;
  }
  const given = REDIS_ROLES.filter((role) => passwords[role] !== '');
  for (const [i, role] of given.entries()) {
    const same = given.slice(i + 1).find((other) => passwords[other] === passwords[role]);
    if (same) problems.push(`${PASSWORD_VARIABLES[role]} and ${PASSWORD_VARIABLES[same]} are the same`);
  }
  if (problems.length > 0) {
    throw new InvalidInputError(`${problems.join('; ')}: give each Redis user its own password in .env, for example with 'openssl rand -hex 24' for each`);
  }
  return passwords;
}

/**
 * The users of a compose network's broker, when the five passwords are in the environment (a .env in
 * this folder, which `dan` reads as compose does), shaped like the file of `dan up`'s private Redis:
 * so `dan send` next to a compose network connects as `client` and `dan cancel` as the operator, with
 * no REDIS_URL or one naming 127.0.0.1:REDIS_PORT without credentials. Undefined when any password
 * is missing or malformed: the command then connects as it always did.
 */
export function composeRedisAuth(env: NodeJS.ProcessEnv): RedisAuth | undefined {
  try {
    // pid 0: no process to watch; the broker lives as long as compose keeps it.
    return { pid: 0, url: `redis://127.0.0.1:${env['REDIS_PORT'] || '6379'}`, passwords: passwordsFromEnv(env) };
  } catch {
    return undefined;
  }
}
