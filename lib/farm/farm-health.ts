/** Settings of a farm agent's health checks. */
export interface HealthPolicy {
  /** No event for this long: the agent is stuck. */
  stuckMs: number;
  /** First restart delay; doubled at every further restart of the same chunk. */
  restartBaseMs: number;
  /** Upper bound of a restart delay. */
  restartMaxMs: number;
  /** Restarts of one agent on one chunk; one more failure hands the chunk back. */
  maxRestarts: number;
  /** A context this large (tokens) is renewed with a fresh session. */
  contextTokens: number;
}

/** Delay before restart number `n` (0-based): `min(max, base * 2^n)`; 10 s and 300 s by default. */
export function restartDelayMs(n: number, policy: Pick<HealthPolicy, 'restartBaseMs' | 'restartMaxMs'>): number {
  return Math.min(policy.restartMaxMs, policy.restartBaseMs * 2 ** Math.max(0, n));
}

/** Why an agent run ended. */
export type RunEnd = 'finished' | 'crashed' | 'stuck' | 'context_full' | 'stopped';

/** What to do after a run ended: go on with the next chunk, renew, restart after a delay, or give the chunk back. */
export type NextStep =
  | { kind: 'done' }
  | { kind: 'renew' }
  | { kind: 'restart'; delayMs: number }
  | { kind: 'give_back'; reason: string }
  | { kind: 'stop' };

/**
 * The decision after one run of an agent on its chunk. `restarts` counts the restarts already
 * made on this chunk; `renewals` the context renewals. Renewals are bounded too (at `maxRestarts`
 * again), so a chunk that fills any context cannot loop forever.
 */
export function nextStep(end: RunEnd, restarts: number, renewals: number, policy: HealthPolicy): NextStep {
  if (end === 'finished') return { kind: 'done' };
  if (end === 'stopped') return { kind: 'stop' };
  if (end === 'context_full' && renewals < policy.maxRestarts) return { kind: 'renew' };
  if (restarts >= policy.maxRestarts) return { kind: 'give_back', reason: `${end} after ${restarts} restart(s)` };
  return { kind: 'restart', delayMs: restartDelayMs(restarts, policy) };
}

/** An agent is stuck when its last event is older than `stuckMs`. */
export function isStuck(lastEventAt: number, now: number, stuckMs: number): boolean {
  return stuckMs > 0 && now - lastEventAt > stuckMs;
}
