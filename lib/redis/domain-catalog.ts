import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/** One entry of the published domain catalog (`dan:domains`), as outside clients read it. */
export interface PublishedDomain {
  name: string;
  description: string;
  workers: string[];
}

/**
 * Replaces the domain catalog with `domains`: what the CLI and outside clients offer as send targets.
 * Published by the main orchestrator at start, so it names exactly the domains this network serves.
 */
export async function publishDomainCatalog(redis: Redis, keys: Keys, domains: readonly PublishedDomain[]): Promise<void> {
  const fields = Object.fromEntries(domains.map((d) => [d.name, JSON.stringify({ description: d.description, workers: d.workers })]));
  const multi = redis.multi().del(keys.domainCatalog());
  if (domains.length > 0) multi.hset(keys.domainCatalog(), fields);
  await multi.exec();
}

/** The running main orchestrator's id and what it registered (pid, host), or undefined when none holds the seat. */
export async function currentMain(redis: Redis, keys: Keys): Promise<{ agentId: string; info: Record<string, string> } | undefined> {
  const agentId = await redis.get(keys.agentsMain());
  if (!agentId) return undefined;
  return { agentId, info: await redis.hgetall(keys.agentInfo(agentId)) };
}
