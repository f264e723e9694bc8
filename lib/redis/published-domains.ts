import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/**
 * The domains the running main orchestrator published in `dan:domains` (it writes the catalog at
 * start-up), sorted; empty when no main has published one. The CLI checks `dan send` against it.
 */
export async function publishedDomains(redis: Redis, keys: Keys): Promise<string[]> {
  return (await redis.hkeys(keys.domainCatalog())).sort();
}
