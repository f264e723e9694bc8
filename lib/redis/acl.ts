import { createHash, randomBytes } from 'node:crypto';
import { formatSentinelUrl, isSentinelUrl, parseSentinelUrl } from './redis-url.js';
import { KEY_TEMPLATES, Keys, MAIN_ONLY_KEYS, type KeyTemplate } from './keys.js';

/**
 * The kinds of Redis user of a network, and the Redis user name of each. `admin` is Redis' own
 * `default` user, so `redis-cli` with REDISCLI_AUTH (no user name) is the operator. `main` is the
 * main orchestrator (and its model gateway), `agent` every domain agent it starts.
 */
export const REDIS_USERS = { admin: 'default', main: 'main', agent: 'agent', client: 'client', viewer: 'viewer' } as const;
export type RedisRole = keyof typeof REDIS_USERS;
export const REDIS_ROLES = Object.keys(REDIS_USERS) as RedisRole[];
export type RedisPasswords = Record<RedisRole, string>;

// Commands every user needs to connect the way ioredis does: its ready check runs INFO (in
// @dangerous), and connection names show agents apart in CLIENT LIST.
const CONNECT = ['+@connection', '-@dangerous', '+info', '+client|setname', '+client|getname', '+client|id'];

/**
 * The ACL rules of one role for a network whose keys start with `prefix`, as `ACL SETUSER` takes
 * them (without the user name, the password and `on`):
 * - admin: everything (only `dan up` itself and its operator hold it);
 * - main: every command on the network's keys and channels, except the @dangerous ones
 *   (FLUSHALL, CONFIG, DEBUG, SHUTDOWN, ACL, KEYS, MONITOR, ...);
 * - agent: the same commands, on the keys of `agentKeyPatterns` only: never the model gateway's
 *   tokens, and only reads of the other keys main alone writes (a hostile worker can read an
 *   agent's password, and must not mint itself a gateway token with it);
 * - client: reads the network's keys; writes only what protocol.md lets a client write (push to
 *   `tasks:pending:*`, fill `results:*`, publish on `notifications:*`, and index its tasks in `dan:jobs:*`). It may run scripts, but a
 *   script's commands are checked against the same rules, so a script can do nothing more;
 * - viewer: reads only (Redis Commander, dashboards).
 * PSUBSCRIBE patterns must equal an allowed channel pattern, so the notification pattern agents
 * subscribe to is named as it is.
 */
export function aclRules(role: RedisRole, prefix = ''): string[] {
  const keys = new Keys(prefix);
  const all = `${prefix}*`;
  const notifications = `${keys.notifications('')}*`;
  switch (role) {
    case 'admin':
      return ['~*', '&*', '+@all'];
    case 'main':
    case 'agent': {
      const keyRules = role === 'main' ? [`~${all}`] : agentKeyPatterns(prefix);
      // With no prefix, `&*` allows every channel, and Redis refuses a pattern after it.
      return ['resetkeys', ...keyRules, 'resetchannels', `&${all}`, ...(prefix ? [`&${notifications}`] : []), '-@all', '+@all', ...CONNECT];
    }
    case 'client':
      return [
        // Redis checks every key a script names as read and written by one pattern (so `~`, not
        // `%W~`): the submit script also names the notification channel and a task's children
        // key (written only for sub-tasks, which clients do not send, and SADD is not theirs), and it
        // indexes the task for its client's listings (`dan:jobs:*`, whose readers check each task's client).
        'resetkeys', `%R~${all}`, `~${keys.pending('')}*`, `~${keys.result('')}*`, `~${keys.children('')}*`, `~${keys.jobs('')}*`, `~${notifications}`,
        // A task sent with --after: its wait record and its place among its dependencies' dependents.
        `~${keys.waitRecord('')}*`, `~${keys.dependents('')}*`, `~${keys.dependencyWaiters('')}*`,
        'resetchannels', `&${notifications}`, `&${keys.result('')}*`,
        '-@all', '+@read', ...CONNECT,
        '+lpush', '+hset', '+sadd', '+pexpire', '+zadd', '+zremrangebyscore', '+publish', '+subscribe', '+unsubscribe', '+psubscribe', '+punsubscribe',
        '+eval', '+evalsha', '+eval_ro', '+evalsha_ro', '+script|load', '+script|exists',
      ];
    case 'viewer':
      return [
        'resetkeys', `%R~${all}`, 'resetchannels', `&${all}`,
        '-@all', '+@read', ...CONNECT, '+subscribe', '+unsubscribe', '+psubscribe', '+punsubscribe',
      ];
  }
}

/** `text` with Redis' glob characters escaped, so a prefix or a template matches only itself. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * The key patterns of the `agent` user, as ACL rules: one per template of lib/redis/keys.ts with each
 * part as `*`, `%R~` for the keys main alone writes and none for those agents must not touch
 * (`MAIN_ONLY_KEYS`). Redis ACLs have no deny patterns, so this allow-list is the only way to keep
 * a key from agents while they keep the rest of the layout, and it follows the templates on its own.
 */
export function agentKeyPatterns(prefix = ''): string[] {
  return (Object.keys(KEY_TEMPLATES) as KeyTemplate[]).flatMap((name) => {
    const access = MAIN_ONLY_KEYS[name];
    if (access === 'none') return [];
    const pattern = KEY_TEMPLATES[name].split('{}').map(globLiteral).join('*');
    return [`${access === 'read' ? '%R~' : '~'}${globLiteral(prefix)}${pattern}`];
  });
}

/** A fresh password per role: 24 random bytes as hex (URL-safe, so it goes into a REDIS_URL as is). */
export function generatePasswords(): RedisPasswords {
  const passwords = {} as RedisPasswords;
  for (const role of REDIS_ROLES) passwords[role] = randomBytes(24).toString('hex');
  return passwords;
}

/**
 * The text of a redis-server `aclfile` for the five roles. Passwords are stored as SHA-256 hashes
 * (`#...`), so the file tells nobody a password; it is still written 0600.
 */
export function aclFileText(passwords: RedisPasswords, prefix = ''): string {
  const hash = (password: string): string => createHash('sha256').update(password).digest('hex');
  return REDIS_ROLES.map((role) => ['user', REDIS_USERS[role], 'reset', 'on', `#${hash(passwords[role])}`, ...aclRules(role, prefix)].join(' ')).join('\n') + '\n';
}

/** `url` (a `redis://` or Sentinel URL) with the user and password of `role` in place of any it had: in a Sentinel URL those of the master, never the Sentinels'. */
export function urlForRole(url: string, role: RedisRole, password: string): string {
  if (isSentinelUrl(url)) {
    const { username: _user, password: _password, ...target } = parseSentinelUrl(url);
    return formatSentinelUrl({ ...target, ...(role === 'admin' ? {} : { username: REDIS_USERS[role] }), password });
  }
  const parsed = new URL(url);
  parsed.username = role === 'admin' ? '' : REDIS_USERS[role];
  parsed.password = password;
  return parsed.toString().replace(/\/$/, '');
}
