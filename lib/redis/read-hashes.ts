import type { Redis } from 'ioredis';

/** The hashes at `names` in one round trip, in their order; `{}` where a key does not exist. A failed read throws. */
export async function readHashes(redis: Redis, names: readonly string[]): Promise<Record<string, string>[]> {
  if (names.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const name of names) pipeline.hgetall(name);
  const replies = (await pipeline.exec()) ?? [];
  return names.map((_, i) => {
    const [error, hash] = replies[i] ?? [null, {}];
    if (error) throw error;
    return (hash ?? {}) as Record<string, string>;
  });
}
