import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A new secret: `prefix` (so a person and the log scrubber can tell its kind) and 32 random bytes, 256 bits no caller can guess. */
export function newSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('hex')}`;
}

/** The hash under which a secret is stored: whoever reads Redis learns which secrets exist, not what they are. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The first 12 hex of a secret's hash: names it in listings, logs and revocations without revealing it. */
export function tokenId(hash: string): string {
  return hash.slice(0, 12);
}

/**
 * One Redis HASH of secrets the network hands out and checks: field sha256(secret), value a JSON record.
 * The model gateway's tokens and the HTTP API's keys are both kept this way; `parse` turns a stored value
 * back into the record (undefined for a field in no known shape, which then counts as no secret).
 */
export class HashedTokenTable<R> {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly parse: (hash: string, raw: string) => R | undefined,
  ) {}

  /** A new secret with `prefix`, stored as `stored` (JSON that `parse` reads back); the caller shows the secret once. */
  async issue(prefix: string, stored: object): Promise<{ token: string; hash: string }> {
    const token = newSecret(prefix);
    const hash = tokenHash(token);
    await this.put(hash, stored);
    return { token, hash };
  }

  async put(hash: string, record: object): Promise<void> {
    await this.redis.hset(this.key, hash, JSON.stringify(record));
  }

  /** The record of a secret, or undefined when it was never issued or has been removed. */
  async check(token: string): Promise<R | undefined> {
    const hash = tokenHash(token);
    const raw = await this.redis.hget(this.key, hash);
    return raw === null ? undefined : this.parse(hash, raw);
  }

  /** Every stored secret's hash and record. */
  async entries(): Promise<Array<[string, R]>> {
    const all = await this.redis.hgetall(this.key);
    const out: Array<[string, R]> = [];
    for (const [hash, raw] of Object.entries(all)) {
      const record = this.parse(hash, raw);
      if (record !== undefined) out.push([hash, record]);
    }
    return out;
  }

  /** Whether any secret is stored at all (an HLEN, for a check made on every request). */
  async any(): Promise<boolean> {
    return (await this.redis.hlen(this.key)) > 0;
  }

  /** Removes secrets by hash; resolves with how many there were. */
  async remove(...hashes: string[]): Promise<number> {
    return hashes.length === 0 ? 0 : this.redis.hdel(this.key, ...hashes);
  }
}
