/**
 * The one confidence rule of ELF memory, as plain functions on plain numbers. Everything that
 * changes or reads a heuristic's confidence goes through here (SQL reaches it through
 * `ElfDatabase.defineFunction`).
 */

export const CONFIDENCE_MIN = 0.05;
export const CONFIDENCE_MAX = 0.95;
export const CONFIDENCE_DEFAULT = 0.5;
/** Updates (validations, violations, contradictions) one heuristic takes per UTC day. */
export const DAILY_UPDATE_LIMIT = 5;
export const GOLDEN_ENTER_CONFIDENCE = 0.9;
export const GOLDEN_MIN_VALIDATIONS = 10;
/** A golden heuristic stays golden down to this confidence (hysteresis with the 0.9 entry). */
export const GOLDEN_EXIT_CONFIDENCE = 0.8;
/** Below this a heuristic is dormant: never injected, listed only on request. */
export const DORMANT_BELOW = 0.2;
export const DECAY_GRACE_DAYS = 14;
export const DECAY_HALF_LIFE_DAYS = 60;
export const DAY_MS = 86_400_000;

export const UPDATE_KINDS = ['validation', 'violation', 'contradiction'] as const;
export type UpdateKind = (typeof UPDATE_KINDS)[number];

export function clampConfidence(c: number): number {
  return Math.min(CONFIDENCE_MAX, Math.max(CONFIDENCE_MIN, c));
}

/** Validation `c + 0.1(1 - c)`, violation `c - 0.1c`, contradiction `c - 0.15c`, kept in [0.05, 0.95]. */
export function applyUpdate(c: number, kind: UpdateKind): number {
  switch (kind) {
    case 'validation':
      return clampConfidence(c + 0.1 * (1 - c));
    case 'violation':
      return clampConfidence(c - 0.1 * c);
    case 'contradiction':
      return clampConfidence(c - 0.15 * c);
  }
}

/**
 * Confidence now, given the stored value and the last time the heuristic was injected or updated:
 * unchanged for 14 idle days, then halfway to 0.05 every 60 days.
 */
export function decayedConfidence(stored: number, lastUsedAtMs: number, nowMs: number): number {
  const idleDays = (nowMs - lastUsedAtMs) / DAY_MS;
  if (idleDays <= DECAY_GRACE_DAYS) return stored;
  return CONFIDENCE_MIN + (stored - CONFIDENCE_MIN) * 0.5 ** ((idleDays - DECAY_GRACE_DAYS) / DECAY_HALF_LIFE_DAYS);
}

export interface GoldenInput {
  golden: boolean;
  confidence: number;
  validations: number;
  violations: number;
}

/** Golden at c >= 0.9 with >= 10 validations and violations <= validations / 10; golden until c < 0.8. */
export function isGolden({ golden, confidence, validations, violations }: GoldenInput): boolean {
  if (golden) return confidence >= GOLDEN_EXIT_CONFIDENCE;
  return confidence >= GOLDEN_ENTER_CONFIDENCE && validations >= GOLDEN_MIN_VALIDATIONS && violations * 10 <= validations;
}

export function isDormant(confidence: number): boolean {
  return confidence < DORMANT_BELOW;
}

/** Start of the UTC day that holds `nowMs`: the daily update limit counts from here. */
export function utcDayStart(nowMs: number): number {
  return Math.floor(nowMs / DAY_MS) * DAY_MS;
}
