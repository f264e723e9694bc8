import { systemClock, type Clock } from '../clock.js';
import { InvalidInputError } from '../errors.js';

/** How an `ElfMemory` keeps time and weighs trails; every field has a default. */
export interface ElfMemoryOptions {
  clock?: Clock;
  /** Half-life of a trail deposit's strength; 24 h by default. */
  trailHalfLifeMs?: number;
  /** How far back a failed task counts as a recent failure of a hot file; 7 days by default. */
  recentFailureMs?: number;
  /** A named file is shown as hot from this current strength: 0.25 is one write two half-lives ago. */
  hotFileMinStrength?: number;
  busyTimeoutMs?: number;
}

export type ResolvedElfMemoryOptions = Required<ElfMemoryOptions>;

/** The options with their defaults, checked once when a memory opens; a bad value names the field. */
export function resolveElfMemoryOptions(options: ElfMemoryOptions = {}): ResolvedElfMemoryOptions {
  const positive = (value: number | undefined, fallback: number, field: string): number => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v <= 0) throw new InvalidInputError(`${field} must be a positive number, got ${v}`);
    return v;
  };
  return {
    clock: options.clock ?? systemClock,
    trailHalfLifeMs: positive(options.trailHalfLifeMs, 24 * 3_600_000, 'trailHalfLifeMs'),
    recentFailureMs: positive(options.recentFailureMs, 7 * 86_400_000, 'recentFailureMs'),
    hotFileMinStrength: positive(options.hotFileMinStrength, 0.25, 'hotFileMinStrength'),
    busyTimeoutMs: positive(options.busyTimeoutMs, 5_000, 'busyTimeoutMs'),
  };
}
