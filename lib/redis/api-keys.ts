import type { Redis } from 'ioredis';
import { InvalidInputError } from '../errors.js';
import { normalizeClientId } from '../protocol/client-id.js';
import { HashedTokenTable, tokenId } from './hashed-tokens.js';
import type { Keys } from './keys.js';

/**
 * What a key may do over the HTTP API. `read`, `submit` and `admin` each include the ones before
 * them: `read` the GETs of its client, `submit` also sends and cancels jobs, `admin` everything, for
 * every client. `metrics` stands apart: a scrape credential for Prometheus that may read `/metrics`
 * (the whole network's numbers, which only operators see) and nothing else, so a scraper's key
 * reads no task and a client's key no other client's backlog.
 */
export const API_ROLES = ['read', 'submit', 'admin', 'metrics'] as const;
export type ApiRole = (typeof API_ROLES)[number];

// The roles that include one another, weakest first.
const RANKED: readonly ApiRole[] = ['read', 'submit', 'admin'];

/** Whether a key of role `held` may use a route that needs `needed`: `metrics` routes take a metrics or an admin key. */
export function roleAllows(held: ApiRole, needed: ApiRole): boolean {
  if (needed === 'metrics') return held === 'metrics' || held === 'admin';
  if (held === 'metrics') return false;
  return RANKED.indexOf(held) >= RANKED.indexOf(needed);
}

/** The roles whose keys may use a route that needs `needed`, for messages that say which key to get. */
export function rolesAllowing(needed: ApiRole): ApiRole[] {
  return API_ROLES.filter((held) => roleAllows(held, needed));
}

/** API keys start with this, so a person (and the log scrubber) can tell one from a gateway token. */
export const API_KEY_PREFIX = 'dan-api-';

/** What the network knows of one API key: never the key itself. */
export interface ApiKey {
  /** The first 12 hex of the key's hash: names it in `dan keys list` and `dan keys revoke`. */
  id: string;
  /** The client whose jobs the key sends and sees (a `metadata.client_id`, lower case). */
  client: string;
  role: ApiRole;
  createdAt: number;
  /** Requests per minute this key may make (0: none); absent: DAN_API_RATE_PER_MINUTE. */
  ratePerMinute?: number;
  /** Jobs of this key not yet ended (0: no limit); absent: DAN_API_MAX_IN_FLIGHT. */
  maxInFlight?: number;
}

/** Limits a key is made with; each left out follows the server's setting. */
export interface ApiKeyLimits {
  ratePerMinute?: number;
  maxInFlight?: number;
}

/**
 * The HTTP API's keys in Redis (`dan:api:keys`), kept like the model gateway's tokens: only sha256 of
 * each key, so several `dan serve` processes check the same keys and a revoked key is refused by all
 * of them at its next request.
 */
export class ApiKeys {
  private readonly table: HashedTokenTable<ApiKey>;

  constructor(redis: Redis, keys: Keys, private readonly clock: () => number = Date.now) {
    this.table = new HashedTokenTable(redis, keys.apiKeys(), parseApiKey);
  }

  /** A new key for `client` with `role`; the key is returned this once and stored only as its hash. */
  async create(client: string, role: ApiRole, limits: ApiKeyLimits = {}): Promise<{ key: string; record: ApiKey }> {
    const name = normalizeClientId(client);
    if (!API_ROLES.includes(role)) throw new InvalidInputError(`role must be one of ${API_ROLES.join(', ')}; got '${String(role)}'`);
    for (const [what, value] of [['--rpm', limits.ratePerMinute], ['--max-in-flight', limits.maxInFlight]] as const) {
      if (value !== undefined && !(Number.isInteger(value) && value >= 0)) throw new InvalidInputError(`${what} must be a whole number, 0 or more (0: no limit); got ${String(value)}`);
    }
    const createdAt = this.clock();
    const stored = { client: name, role, createdAt, ...definedLimits(limits) };
    const { token, hash } = await this.table.issue(API_KEY_PREFIX, stored);
    return { key: token, record: { id: tokenId(hash), ...stored } };
  }

  /** The key's record, or undefined for a key never created or revoked. */
  async check(key: string): Promise<ApiKey | undefined> {
    return this.table.check(key);
  }

  /** Whether any key exists: with none, the API answers everyone (on a loopback address only). */
  async any(): Promise<boolean> {
    return this.table.any();
  }

  /** Every key, oldest first. */
  async list(): Promise<ApiKey[]> {
    return (await this.table.entries()).map(([, record]) => record).sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Revokes the key whose id (as `dan keys list` shows it) is `id`, or starts with it when that names
   * one key; resolves with the revoked key's record, or undefined when no key has that id. With
   * `client`, only that client's keys are looked at (an admin key over HTTP revokes its own client's).
   */
  async revoke(id: string, options: { client?: string } = {}): Promise<ApiKey | undefined> {
    const wanted = id.trim().toLowerCase();
    if (!/^[0-9a-f]{4,64}$/.test(wanted)) throw new InvalidInputError(`'${id}' is not a key id: pass the ID column of 'dan keys list' (at least 4 hex digits)`);
    const matching = (await this.table.entries()).filter(([hash, record]) => hash.startsWith(wanted) && (options.client === undefined || record.client === options.client));
    if (matching.length > 1) throw new InvalidInputError(`'${id}' names ${matching.length} keys: give more of its id (see 'dan keys list')`);
    const [found] = matching;
    if (found === undefined) return undefined;
    await this.table.remove(found[0]);
    return found[1];
  }
}

function definedLimits(limits: ApiKeyLimits): ApiKeyLimits {
  return {
    ...(typeof limits.ratePerMinute === 'number' ? { ratePerMinute: limits.ratePerMinute } : {}),
    ...(typeof limits.maxInFlight === 'number' ? { maxInFlight: limits.maxInFlight } : {}),
  };
}

function parseApiKey(hash: string, raw: string): ApiKey | undefined {
  try {
    const value = JSON.parse(raw) as { client?: unknown; role?: unknown; createdAt?: unknown; ratePerMinute?: unknown; maxInFlight?: unknown };
    if (typeof value.client !== 'string' || typeof value.createdAt !== 'number') return undefined;
    if (!API_ROLES.includes(value.role as ApiRole)) return undefined;
    return {
      id: tokenId(hash), client: value.client, role: value.role as ApiRole, createdAt: value.createdAt,
      ...definedLimits(value as ApiKeyLimits),
    };
  } catch {
    return undefined;
  }
}
