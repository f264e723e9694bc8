import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGolden } from '../../lib/elf/elf-confidence.js';
import { ElfMemory } from '../../lib/elf/elf-memory.js';
import { MovableClock } from '../support/movable-clock.js';

const DAY = 86_400_000;

// The rule as the issue states it, written out again so the test does not trust the code under test.
const clamp = (c: number) => Math.min(0.95, Math.max(0.05, c));
const formula = {
  validation: (c: number) => clamp(c + 0.1 * (1 - c)),
  violation: (c: number) => clamp(c - 0.1 * c),
  contradiction: (c: number) => clamp(c - 0.15 * c),
};

describe('ELF confidence', () => {
  let dir: string;
  let clock: MovableClock;
  let memory: ElfMemory;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'elf-confidence-'));
    clock = new MovableClock(Date.UTC(2026, 0, 5, 12));
    memory = ElfMemory.open(path.join(dir, 'memory.sqlite'), { clock });
  });

  afterEach(() => {
    memory.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const record = (rule: string, confidence?: number, domain = 'backend') =>
    memory.recordHeuristic({ domain, rule, source: 'person', ...(confidence === undefined ? {} : { confidence }) }).heuristic;

  /** Applies updates five per UTC day, moving the clock a day between batches. */
  function apply(id: number, kinds: Array<keyof typeof formula>): void {
    kinds.forEach((kind, i) => {
      if (i > 0 && i % 5 === 0) clock.advance(DAY);
      const result = kind === 'validation' ? memory.validate(id) : kind === 'violation' ? memory.violate(id) : memory.contradict(id);
      expect(result.applied).toBe(true);
    });
  }

  it('equals the formula after any sequence of validations, violations and contradictions', () => {
    const h = record('Run the migrations before the seed script', 0.5);
    const kinds: Array<keyof typeof formula> = ['validation', 'validation', 'violation', 'validation', 'contradiction', 'validation', 'violation', 'violation', 'validation', 'validation', 'contradiction', 'validation'];
    apply(h.id, kinds);
    const expected = kinds.reduce((c, kind) => formula[kind](c), 0.5);
    const after = memory.getHeuristic(h.id);
    expect(after.confidence).toBeCloseTo(expected, 12);
    expect([after.validations, after.violations, after.contradictions]).toEqual([7, 3, 2]);
  });

  it('stores a given confidence clamped to [0.05, 0.95] and never leaves that range', () => {
    expect(record('one', 1).confidence).toBe(0.95);
    expect(record('two', 0).confidence).toBe(0.05);
    expect(record('three').confidence).toBe(0.5);
    const top = record('four', 1);
    memory.validate(top.id);
    expect(memory.getHeuristic(top.id).confidence).toBe(0.95);
    const bottom = record('five', 0);
    memory.contradict(bottom.id);
    expect(memory.getHeuristic(bottom.id).confidence).toBe(0.05);
  });

  it('takes at most 5 updates per heuristic per UTC day and reports the sixth as not applied', () => {
    clock.t = Date.UTC(2026, 0, 5, 23, 0);
    const h = record('Cap me', 0.5);
    for (let i = 0; i < 5; i++) expect(memory.validate(h.id).applied).toBe(true);
    const capped = memory.violate(h.id);
    expect(capped).toMatchObject({ applied: false, reason: 'daily_limit' });
    expect(capped.message).toMatch(/5 updates today/);
    const expected = [1, 2, 3, 4, 5].reduce((c) => formula.validation(c), 0.5);
    expect(memory.getHeuristic(h.id).confidence).toBeCloseTo(expected, 12);
    expect(memory.getHeuristic(h.id).violations).toBe(0);

    clock.t = Date.UTC(2026, 0, 6, 0, 1); // two minutes later, but a new UTC day
    expect(memory.violate(h.id).applied).toBe(true);
    expect(memory.getHeuristic(h.id).confidence).toBeCloseTo(formula.violation(expected), 12);
  });

  it('promotes to golden exactly at 10 validations with c >= 0.9, and not before', () => {
    const h = record('Golden candidate', 1);
    apply(h.id, Array<'validation'>(9).fill('validation'));
    expect(memory.getHeuristic(h.id)).toMatchObject({ validations: 9, golden: false, confidence: 0.95 });
    clock.advance(DAY);
    memory.validate(h.id);
    expect(memory.getHeuristic(h.id)).toMatchObject({ validations: 10, golden: true });
    expect(memory.listHeuristics({ goldenOnly: true }).map((x) => x.id)).toEqual([h.id]);
  });

  it('allows violations up to a tenth of the validations, no more', () => {
    const oneViolation = record('One violation', 1);
    apply(oneViolation.id, ['violation', ...Array<'validation'>(9).fill('validation')]);
    expect(memory.getHeuristic(oneViolation.id).golden).toBe(false);
    clock.advance(DAY);
    memory.validate(oneViolation.id);
    expect(memory.getHeuristic(oneViolation.id)).toMatchObject({ validations: 10, violations: 1, golden: true });

    const twoViolations = record('Two violations', 1);
    apply(twoViolations.id, ['violation', 'violation', ...Array<'validation'>(10).fill('validation')]);
    const h = memory.getHeuristic(twoViolations.id);
    expect(h.confidence).toBeGreaterThanOrEqual(0.9);
    expect(h).toMatchObject({ validations: 10, violations: 2, golden: false });
  });

  it('decides golden at the thresholds exactly', () => {
    const base = { golden: false, confidence: 0.9, validations: 10, violations: 1 };
    expect(isGolden(base)).toBe(true);
    expect(isGolden({ ...base, confidence: 0.8999 })).toBe(false);
    expect(isGolden({ ...base, validations: 9, violations: 0 })).toBe(false);
    expect(isGolden({ ...base, violations: 2 })).toBe(false);
    expect(isGolden({ ...base, golden: true, confidence: 0.8 })).toBe(true);
    expect(isGolden({ ...base, golden: true, confidence: 0.7999 })).toBe(false);
  });

  it('keeps a golden heuristic golden down to 0.8 and demotes it below', () => {
    const h = record('Golden then doubted', 1);
    apply(h.id, Array<'validation'>(10).fill('validation'));
    expect(memory.getHeuristic(h.id).golden).toBe(true);
    clock.advance(DAY);
    memory.violate(h.id); // 0.95 -> 0.855: between 0.8 and 0.9, stays golden
    expect(memory.getHeuristic(h.id)).toMatchObject({ golden: true });
    expect(memory.getHeuristic(h.id).confidence).toBeCloseTo(0.855, 12);
    memory.violate(h.id); // -> 0.7695
    expect(memory.getHeuristic(h.id).golden).toBe(false);
    memory.validate(h.id); // -> 0.79255
    memory.validate(h.id); // -> 0.8133: above 0.8 again, but entry needs 0.9
    expect(memory.getHeuristic(h.id).confidence).toBeGreaterThan(0.8);
    expect(memory.getHeuristic(h.id).golden).toBe(false);
  });

  it('decays an unused heuristic: unchanged for 14 days, then halfway to 0.05 after 60 more', () => {
    const h = record('Decaying rule', 0.8);
    clock.advance(14 * DAY);
    expect(memory.getHeuristic(h.id).confidence).toBe(0.8);
    clock.advance(60 * DAY);
    const decayed = 0.05 + (0.8 - 0.05) * 0.5;
    expect(memory.getHeuristic(h.id).confidence).toBeCloseTo(decayed, 12);
    // The next update starts from the decayed value and persists it.
    memory.validate(h.id);
    expect(memory.getHeuristic(h.id).confidence).toBeCloseTo(formula.validation(decayed), 12);
    clock.advance(10 * DAY);
    expect(memory.getHeuristic(h.id).confidence).toBeCloseTo(formula.validation(decayed), 12);
  });

  it('demotes a golden heuristic that decays below 0.8', () => {
    const h = record('Forgotten golden rule', 1);
    apply(h.id, Array<'validation'>(10).fill('validation'));
    expect(memory.getHeuristic(h.id).golden).toBe(true);
    clock.advance(14 * DAY + 20 * DAY);
    const after = memory.getHeuristic(h.id);
    expect(after.confidence).toBeLessThan(0.8);
    expect(after.golden).toBe(false);
    expect(memory.stats().golden).toBe(0);
  });

  it('makes a heuristic dormant below 0.2: not injected, listed only on request', () => {
    const fading = record('Cache the session token lookups', 0.3);
    const strong = record('Rotate the session token on login', 0.9);
    clock.advance(74 * DAY); // 0.3 -> 0.175, 0.9 -> 0.475
    expect(memory.getHeuristic(fading.id)).toMatchObject({ dormant: true });
    expect(memory.getHeuristic(fading.id).confidence).toBeCloseTo(0.175, 12);
    expect(memory.getHeuristic(strong.id).dormant).toBe(false);

    const context = memory.buildContext({ domain: 'backend', task: 'session token handling' });
    expect(context.heuristicIds).toEqual([strong.id]);
    expect(context.text).not.toContain('Cache the session');
    expect(memory.listHeuristics().map((x) => x.id)).toEqual([strong.id]);
    expect(memory.listHeuristics({ includeDormant: true }).map((x) => x.id)).toEqual([strong.id, fading.id]);
    expect(memory.search('session token').heuristics.map((hit) => hit.heuristic.id)).toEqual([strong.id]);
    expect(memory.stats().dormant).toBe(1);
  });

  it('restarts the idle clock when a heuristic is injected, keeping the decay so far', () => {
    const h = record('Prefer prepared statements for SQL', 0.8);
    clock.advance(74 * DAY);
    const decayed = memory.getHeuristic(h.id).confidence;
    memory.buildContext({ domain: 'backend', task: 'SQL statements', taskId: 'task-1' });
    clock.advance(10 * DAY);
    expect(memory.getHeuristic(h.id).confidence).toBeCloseTo(decayed, 12);
  });
});
