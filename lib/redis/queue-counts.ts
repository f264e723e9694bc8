import type { Redis } from 'ioredis';
import { PRIORITIES, type Priority } from '../protocol/task.js';
import type { Keys } from './keys.js';

/** Where a domain's tasks are, by state: what `dan agents`, `GET /domains` and /metrics count. */
export interface QueueStates {
  domain: string;
  /** In `tasks:pending:{domain}` or caught by a blocked consumer, not yet sorted by priority. */
  pending: number;
  /** Sorted by priority, ready to be claimed. */
  ready: Record<Priority, number>;
  /** Waiting for a retry after a retryable failure. */
  delayed: number;
  /** Leased by an agent working on them. */
  running: number;
  /** Entries of `tasks:dead:{domain}`. */
  deadLettered: number;
  /**
   * In status `waiting` on the tasks they depend on (`dan:waiting:{domain}`): in no queue, so never in
   * the backlog (`waitingCount`) that starts agents, since none of them can be claimed yet.
   */
  dependencyWaiting: number;
}

/** Tasks waiting to run (pending, ready, delayed): a domain's backlog. */
export function waitingCount(states: QueueStates): number {
  return states.pending + PRIORITIES.reduce((sum, p) => sum + states.ready[p], 0) + states.delayed;
}

/** Each of `domains`' queue states, read in one round trip (nine reads per domain). */
export async function queueStates(redis: Redis, keys: Keys, domains: readonly string[]): Promise<QueueStates[]> {
  if (domains.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const d of domains) {
    // The keys that count as a domain's depth are the ones the submit script checks (Keys.waiting).
    const w = keys.waiting(d);
    pipeline.llen(w.pending).llen(w.ingest);
    for (const p of PRIORITIES) pipeline.llen(keys.ready(d, p));
    pipeline.zcard(w.delayed).zcard(keys.leases(d)).llen(keys.dead(d)).scard(keys.dependencyWaiters(d));
  }
  const replies = (await pipeline.exec()) ?? [];
  const perDomain = 6 + PRIORITIES.length;
  return domains.map((domain, i) => {
    const n = (j: number): number => {
      const [error, value] = replies[i * perDomain + j] ?? [null, 0];
      if (error) throw error;
      return Number(value ?? 0);
    };
    const ready = Object.fromEntries(PRIORITIES.map((p, k) => [p, n(2 + k)])) as Record<Priority, number>;
    const after = 2 + PRIORITIES.length;
    return { domain, pending: n(0) + n(1), ready, delayed: n(after), running: n(after + 1), deadLettered: n(after + 2), dependencyWaiting: n(after + 3) };
  });
}

/**
 * The backlog (`waitingCount`) of each of `domains`, in one pipeline for all of them: the six reads of
 * `Keys.waiting` per domain (incoming, caught, ready by priority, delayed) and nothing else. What the
 * supervisor's spawn decision needs on every tick; `queueStates` also reads running and dead-lettered,
 * for the views. Measured on 8 domains: a steady tick sent 90 commands (eight reads per domain, one
 * round trip per domain) before, 74 in one round trip with this.
 */
export async function waitingCounts(redis: Redis, keys: Keys, domains: readonly string[]): Promise<Map<string, number>> {
  if (domains.length === 0) return new Map();
  const pipeline = redis.pipeline();
  for (const d of domains) {
    const w = keys.waiting(d);
    pipeline.llen(w.pending).llen(w.ingest).llen(w.readyHigh).llen(w.readyNormal).llen(w.readyLow).zcard(w.delayed);
  }
  const replies = (await pipeline.exec()) ?? [];
  return new Map(domains.map((domain, i) => {
    let sum = 0;
    for (const [error, value] of replies.slice(i * WAITING_READS, (i + 1) * WAITING_READS)) {
      if (error) throw error;
      sum += Number(value ?? 0);
    }
    return [domain, sum];
  }));
}

// The reads of `waitingCounts` per domain: the six keys of `Keys.waiting`.
const WAITING_READS = 6;

/** Tasks waiting in a domain: pending, caught by a blocked consumer, sorted by priority, or delayed for a retry. */
export async function queueDepth(redis: Redis, keys: Keys, domain: string): Promise<number> {
  return (await waitingCounts(redis, keys, [domain])).get(domain) ?? 0;
}

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
