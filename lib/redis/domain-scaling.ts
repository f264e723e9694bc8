import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { readHashes } from './read-hashes.js';

/**
 * What the main orchestrator's supervisor saw of one domain on its last tick, published for those who
 * start agents from outside (DAN_SPAWNER=external: KEDA, a script) and for `dan agents` and /metrics.
 * `desired` comes from the same rule the supervisor spawns by (src/main/spawn-policy.ts desiredAgents).
 */
export interface DomainScaling {
  domain: string;
  /** Tasks waiting to be claimed (incoming, ready, delayed for a retry): the number the rule reads. */
  backlog: number;
  /** Agents with a current heartbeat that the main orchestrator counts (started or adopted). */
  live: number;
  /** Agents the main orchestrator would want for the backlog, within DAN_MAX_INSTANCES_PER_DOMAIN. */
  desired: number;
  /** The spawner of the main orchestrator that published it (`external`: it starts none). */
  spawner: string;
  /** ISO time of the tick that saw it. */
  at: string;
}

/**
 * Publishes every domain's numbers in one round trip. Each expires after `keptMs`, so numbers of a main
 * orchestrator that stopped do not linger as if they were current.
 */
export async function publishScaling(redis: Redis, keys: Keys, rows: readonly DomainScaling[], keptMs: number): Promise<void> {
  if (rows.length === 0) return;
  const tx = redis.multi();
  for (const r of rows) {
    const key = keys.domainScaling(r.domain);
    tx.hset(key, 'backlog', r.backlog, 'live', r.live, 'desired', r.desired, 'spawner', r.spawner, 'at', r.at).pexpire(key, keptMs);
  }
  await tx.exec();
}

/** The published numbers of each of `domains` that has some, in their order. */
export async function readScaling(redis: Redis, keys: Keys, domains: readonly string[]): Promise<DomainScaling[]> {
  const hashes = await readHashes(redis, domains.map((domain) => keys.domainScaling(domain)));
  const rows: DomainScaling[] = [];
  domains.forEach((domain, i) => {
    const hash = hashes[i] ?? {};
    if (hash['at'] === undefined) return;
    // Anything on Redis is untrusted: a field that is not a count reads as 0.
    rows.push({ domain, backlog: count(hash['backlog']), live: count(hash['live']), desired: count(hash['desired']), spawner: hash['spawner'] ?? '', at: hash['at'] });
  });
  return rows;
}

function count(text: string | undefined): number {
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}
