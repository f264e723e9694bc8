import { chmodSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { loadConfig } from '../../../lib/config.js';
import { InvalidInputError } from '../../../lib/errors.js';
import { aclFileText, REDIS_ROLES, REDIS_USERS, type RedisPasswords, type RedisRole } from '../../../lib/redis/acl.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliOverrides } from '../cli-context.js';

interface RedisAclArgs extends GlobalArgs {
  out?: string;
}

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
 * Writes `text` to `file`, readable by its owner and group only (it holds password hashes; the group
 * lets a redis-server of another uid read it, compose's `user: "0:999"`), through a fresh temporary
 * file renamed into place, so redis-server never reads half a file nor one made with looser modes.
 */
function writePrivate(file: string, text: string): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}`);
  rmSync(temporary, { force: true });
  writeFileSync(temporary, text, { mode: 0o640 });
  chmodSync(temporary, 0o640);
  renameSync(temporary, file);
}

/**
 * `dan redis-acl`: the ACL file of a network's Redis users (lib/redis/acl.ts, the same users `dan up`
 * gives its private Redis) from passwords in the environment, for a Redis `dan up` does not start.
 * Compose runs it as a one-shot service before the message broker, which loads the file with
 * `--aclfile`: no password is ever on a command line, and the file holds only their hashes.
 */
export const redisAclCommand: CommandModule<GlobalArgs, RedisAclArgs> = {
  command: 'redis-acl',
  describe: 'Print (or --out: write, mode 0640) the Redis ACL file of the network\'s users from REDIS_PASSWORD, REDIS_MAIN_PASSWORD, REDIS_AGENT_PASSWORD, REDIS_CLIENT_PASSWORD and REDIS_VIEWER_PASSWORD',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.option('out', { type: 'string', describe: 'Write the file here (replaced, mode 0640) instead of printing it' }) as Argv<RedisAclArgs>,
  handler: (argv: ArgumentsCamelCase<RedisAclArgs>) => {
    const prefix = loadConfig(process.env, cliOverrides(argv)).keyPrefix;
    const text = aclFileText(passwordsFromEnv(process.env), prefix);
    if (argv.out === undefined) {
      process.stdout.write(text);
      return;
    }
    writePrivate(argv.out, text);
    process.stderr.write(`wrote the Redis users ${REDIS_ROLES.map((role) => REDIS_USERS[role]).join(', ')} to ${argv.out}\n`);
  },
};
