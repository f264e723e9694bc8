import { chmodSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { loadConfig } from '../../../lib/config.js';
import { aclFileText, REDIS_ROLES, REDIS_USERS } from '../../../lib/redis/acl.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliOverrides } from '../cli-context.js';
import { passwordsFromEnv } from '../compose-redis-auth.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface RedisAclArgs extends GlobalArgs {
  out?: string;
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
  ...COMMAND_HEADINGS.redisAcl,
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
