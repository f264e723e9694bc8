import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/** How many entries a domain's dead-letter list (`tasks:dead:{domain}`) holds. */
export async function deadLetterCount(redis: Redis, keys: Keys, domain: string): Promise<number> {
  return redis.llen(keys.dead(domain));
}

/**
 * The domains that have a `tasks:pending:{domain}` list, found by SCAN (so a busy Redis is never
 * blocked), for the supervisor to find tasks raw clients sent to domains nobody serves.
 */
export async function domainsWithPendingQueues(redis: Redis, keys: Keys): Promise<string[]> {
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, names] = await redis.scan(cursor, 'MATCH', keys.pendingPattern(), 'COUNT', 1000);
    cursor = next;
    for (const key of names) found.add(keys.domainFromPending(key));
  } while (cursor !== '0');
  return [...found];
}
