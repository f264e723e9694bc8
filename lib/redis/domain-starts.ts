import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { readHashes } from './read-hashes.js';

// 1 h: long enough for a person to ask why a task waits, short enough that an old failure of a
// domain nobody used since does not linger.
const KEPT_MS = 3_600_000;
// Lines are agents' JSON log lines or a stack trace; one this long says what it has to say.
const MAX_LINE_CHARS = 500;

/**
 * Why a domain's last agent did not start: what the main orchestrator saw (the spawn error, an exit
 * before its first heartbeat, no heartbeat in time) and the agent's last output lines. Kept in Redis
 * so `dan status`, `dan send --wait` and `dan agents` can tell a person why a task waits, whatever
 * console the network runs in.
 */
export interface StartFailure {
  domain: string;
  agentId: string;
  /** ISO time of the failure. */
  at: string;
  reason: string;
  lines: string[];
}

/** Records a domain's start failure, replacing the one before. */
export async function recordStartFailure(redis: Redis, keys: Keys, failure: StartFailure, keptMs = KEPT_MS): Promise<void> {
  const key = keys.domainStart(failure.domain);
  const lines = failure.lines.map((line) => (line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}...` : line));
  await redis.multi()
    .hset(key, 'agent', failure.agentId, 'at', failure.at, 'reason', failure.reason, 'lines', JSON.stringify(lines))
    .pexpire(key, keptMs)
    .exec();
}

/** Forgets a domain's start failure: an agent of it has come up since. */
export async function clearStartFailure(redis: Redis, keys: Keys, domain: string): Promise<void> {
  await redis.del(keys.domainStart(domain));
}

/** The last start failure of each of `domains` that has one, in their order. */
export async function readStartFailures(redis: Redis, keys: Keys, domains: readonly string[]): Promise<StartFailure[]> {
  const hashes = await readHashes(redis, domains.map((domain) => keys.domainStart(domain)));
  const failures: StartFailure[] = [];
  domains.forEach((domain, i) => {
    const hash = hashes[i] ?? {};
    if (!hash['reason']) return;
    failures.push({ domain, agentId: hash['agent'] ?? '', at: hash['at'] ?? '', reason: hash['reason'], lines: parseLines(hash['lines']) });
  });
  return failures;
}

function parseLines(text: string | undefined): string[] {
  try {
    const value: unknown = JSON.parse(text ?? '[]');
    return Array.isArray(value) ? value.map(String) : [];
  } catch {
    return [];
  }
}
