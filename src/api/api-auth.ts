import type { FastifyRequest } from 'fastify';
import { DEFAULT_CLIENT_ID, normalizeClientId } from '../../lib/protocol/client-id.js';
import type { ApiKeyLimits, ApiKeys, ApiRole } from '../../lib/redis/api-keys.js';
import { roleAllows, rolesAllowing } from '../../lib/redis/api-keys.js';
import type { ApiLimits } from '../../lib/redis/api-limits.js';
import { ApiError } from './api-errors.js';

/** Who is asking: the client whose jobs they send and see, and what their key may do. */
export interface Caller {
  client: string;
  role: ApiRole;
  /** The key's id (`dan keys list`); undefined while no key exists and the API answers everyone. */
  keyId: string | undefined;
  /** The key's own limits (`dan keys create --rpm/--max-in-flight`); absent ones follow the settings. */
  limits: ApiKeyLimits;
}

/** Who acted, as logs and results record it (`cancelled_by`, `approved_by`): `api:<client>[:<key id>]`. */
export function actorOf(caller: Pick<Caller, 'client' | 'keyId'>): string {
  return `api:${caller.client}${caller.keyId ? `:${caller.keyId}` : ''}`;
}

/**
 * The one tenancy rule: an `admin` key is the network's operator and may read and act on any client's
 * jobs; a `read` or `submit` key only on its own client's. Listings that read every client at once
 * (dead letters, history, GET /jobs) ask `mayActForAll`, which is this rule for "any client".
 */
export function mayActFor(caller: Pick<Caller, 'client' | 'role'>, client: string): boolean {
  return mayActForAll(caller) || caller.client === client;
}

/** Whether `caller` may read and act on every client's jobs (an admin key): the tenancy rule of `mayActFor`. */
export function mayActForAll(caller: Pick<Caller, 'role'>): boolean {
  return caller.role === 'admin';
}

/**
 * The client whose jobs a listing (GET /jobs, a bulk action) reads: `asked` (`client` of the query or
 * body), which only an admin key may name, else the caller's own. Another key naming a client is 403.
 */
export function listedClient(caller: Pick<Caller, 'client' | 'role'>, asked: string | undefined): string {
  if (asked === undefined) return caller.client;
  const client = normalizeClientId(asked);
  if (!mayActForAll(caller)) {
    throw new ApiError('forbidden', `only an admin key may list another client's jobs (client=${client}); leave client out to list your own (${caller.client}'s), or use a key with role admin`);
  }
  return client;
}

/** The key a request carries: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(request: Pick<FastifyRequest, 'headers'>): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (match) return match[1];
  }
  const header = request.headers['x-api-key'];
  return typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined;
}

/**
 * The caller of a request that needs `needed`. With no key defined anyone is an admin of the
 * `default` client (unless `requireKey`: the server listens beyond loopback); with keys, a missing, unknown or
 * revoked key is 401 and a role too weak for the route 403.
 */
export async function authenticate(keys: ApiKeys, request: Pick<FastifyRequest, 'headers'>, needed: ApiRole, options: { requireKey: boolean }): Promise<Caller> {
  const key = presentedKey(request);
  if (key === undefined) {
    // A server bound beyond loopback never falls open, even when every key is revoked while it runs.
    if (!options.requireKey && !(await keys.any())) return { client: DEFAULT_CLIENT_ID, role: 'admin', keyId: undefined, limits: {} };
    throw new ApiError('unauthorized', "this API needs a key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' (an operator makes one with 'dan keys create --client <name>')");
  }
  const record = await keys.check(key);
  if (record === undefined) throw new ApiError('unauthorized', "the key is unknown or revoked: ask an operator for a key ('dan keys create --client <name>')");
  if (!roleAllows(record.role, needed)) {
    throw new ApiError('forbidden', `this needs a key with role ${rolesAllowing(needed).join(' or ')}; key ${record.id} has role ${record.role} ('dan keys create --client ${record.client} --role ${needed}')`);
  }
  const limits = {
    ...(record.ratePerMinute !== undefined ? { ratePerMinute: record.ratePerMinute } : {}),
    ...(record.maxInFlight !== undefined ? { maxInFlight: record.maxInFlight } : {}),
  };
  return { client: record.client, role: record.role, keyId: record.id, limits };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The role a route needs; a route without one (/health) is answered to anyone. */
    role?: ApiRole;
    /**
     * Reads of a route's own (by its URL's params, not yet validated) started together with the key check,
     * so both leave in one write and come back in one round trip; the handler takes them with
     * `prefetched`, after the caller is known and may see them. Only for reads: a request refused later
     * (401, 403, 400) just drops them.
     */
    prefetch?: (request: FastifyRequest) => Promise<unknown>;
  }
  interface FastifyRequest {
    /** Set before the body is read, for every route with a `role`. */
    caller?: Caller;
    /** What the route's `prefetch` started, for `prefetched`. */
    early?: Promise<unknown>;
  }
}

/** Starts the route's `prefetch` reads, if it has any, before its caller is authenticated. */
export function startPrefetch(request: FastifyRequest): void {
  const prefetch = request.routeOptions.config.prefetch;
  if (prefetch === undefined) return;
  const early = prefetch(request);
  // Awaited by the handler; a request refused before it gets there must not leave an unhandled rejection.
  early.catch(() => undefined);
  request.early = early;
}

/** The reads the route's `prefetch` started with the key check. */
export function prefetched<T>(request: Pick<FastifyRequest, 'early' | 'url'>): Promise<T> {
  if (request.early === undefined) throw new Error(`route ${request.url} reads what it prefetched but declares no prefetch`);
  return request.early as Promise<T>;
}

/** The caller the route's `onRequest` authentication found; a route without a `role` has none. */
export function callerOf(request: Pick<FastifyRequest, 'caller' | 'url'>): Caller {
  if (request.caller === undefined) throw new Error(`route ${request.url} reads its caller but declares no role`);
  return request.caller;
}

/**
 * Counts a keyed caller's request against its requests per minute (its key's, else `fallback`,
 * DAN_API_RATE_PER_MINUTE; 0: none); past it, 429 `rate_limited` with the seconds until its window ends.
 * A caller without a key (no key exists, loopback only) is not counted.
 */
export async function checkRate(limits: ApiLimits, caller: Caller, fallback: number): Promise<void> {
  const limit = caller.limits.ratePerMinute ?? fallback;
  if (caller.keyId === undefined || limit === 0) return;
  const { allowed, retryAfterMs } = await limits.request(caller.keyId, limit);
  if (allowed) return;
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  throw new ApiError('rate_limited', `key ${caller.keyId} may make ${limit} requests a minute and has made them: try again in ${seconds} s, or ask an operator for a higher --rpm`, { retryAfterSeconds: seconds });
}

/**
 * Takes a place for job `taskId` among the keyed caller's jobs in flight (its key's limit, else
 * `fallback`, DAN_API_MAX_IN_FLIGHT; 0: none); when all are taken, 429 `rate_limited`. Resolves with a
 * function that gives the place back, for a submit that then fails.
 */
export async function holdInFlight(limits: ApiLimits, caller: Caller, taskId: string, fallback: number): Promise<() => Promise<void>> {
  const max = caller.limits.maxInFlight ?? fallback;
  const keyId = caller.keyId;
  if (keyId === undefined || max === 0) return async () => undefined;
  const { allowed } = await limits.open(keyId, taskId, max);
  if (!allowed) {
    throw new ApiError('rate_limited', `key ${keyId} may have ${max} jobs in flight and has them: try again once one ends (GET /jobs/{id}), or ask an operator for a higher --max-in-flight`, { retryAfterSeconds: IN_FLIGHT_RETRY_SECONDS });
  }
  return () => limits.close(keyId, taskId);
}

/** What a refused submit over the jobs-in-flight limit is told to wait: when a job ends is not known. */
const IN_FLIGHT_RETRY_SECONDS = 5;
