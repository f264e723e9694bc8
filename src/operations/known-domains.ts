import type { Redis } from 'ioredis';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import type { Config } from '../../lib/config.js';
import type { Keys } from '../../lib/redis/keys.js';
import { publishedDomains } from '../../lib/redis/published-domains.js';

/**
 * The domains a task may be sent to: those the running main orchestrator published, else the ones
 * defined in the local agents folder. `main` is always accepted.
 */
export async function knownDomains(redis: Redis, keys: Keys, config: Config): Promise<string[]> {
  const published = await publishedDomains(redis, keys);
  if (published.length > 0) return published;
  try {
    return loadAgentCatalog(config.agentsDir).domains.map((d) => d.name);
  } catch {
    return [];
  }
}
