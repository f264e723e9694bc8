import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { aclRules } from '../../lib/redis/acl.js';

/**
 * A Redis user on the shared test Redis with the rules `dan up`'s private Redis gives its domain
 * agents (`aclRules('agent', prefix)`), so a test network's domains, ELF and farm run with what they
 * will have there. A name and password of its own per network: tests share the Redis.
 */
export async function createAgentRedisUser(admin: Redis, redisUrl: string, prefix: string): Promise<{ url: string; remove(): Promise<void> }> {
  const name = `agent-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(16).toString('hex');
  await admin.call('ACL', 'SETUSER', name, 'reset', 'on', `>${password}`, ...aclRules('agent', prefix));
  const url = new URL(redisUrl);
  url.username = name;
  url.password = password;
  return {
    url: url.toString().replace(/\/$/, ''),
    remove: async () => { await admin.call('ACL', 'DELUSER', name); },
  };
}
