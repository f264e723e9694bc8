import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DanError, InvalidInputError } from '../../lib/errors.js';
import { ElfMemory, type ElfMemoryOptions } from '../../lib/elf/elf-memory.js';
import type { HeuristicInput } from '../../lib/elf/elf-types.js';
import { MovableClock } from '../support/movable-clock.js';

const HOUR = 3_600_000;

describe('ELF memory', () => {
  let dir: string;
  let clock: MovableClock;
  let memory: ElfMemory;
  const open = (options: ElfMemoryOptions = {}) => ElfMemory.open(path.join(dir, `m-${Math.random().toString(36).slice(2)}.sqlite`), { clock, ...options });

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'elf-memory-'));
    clock = new MovableClock(Date.UTC(2026, 2, 1, 9));
    memory = open();
  });

  afterEach(() => {
    memory.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('outcomes and trails', () => {
    it('records an outcome once per task id, however often the event is replayed', () => {
      const outcome = { taskId: 'task-1', domain: 'backend', status: 'completed' as const, filesCreated: ['src/api/users.ts'], filesModified: ['src/db.ts'] };
      expect(memory.recordOutcome(outcome)).toBe(true);
      expect(memory.recordOutcome(outcome)).toBe(false);
      expect(memory.recordOutcome({ ...outcome, status: 'failed' })).toBe(false);
      expect(memory.getOutcome('task-1')).toMatchObject({ status: 'completed', filesCreated: ['src/api/users.ts'], filesModified: ['src/db.ts'] });
      expect(memory.stats()).toMatchObject({ outcomes: { total: 1, byStatus: { completed: 1 } }, trails: 2 });
    });

    it('halves a trail every half-life, 24 h by default', () => {
      memory.recordOutcome({ taskId: 't1', domain: 'backend', status: 'completed', filesModified: ['src/app.ts'] });
      expect(memory.hotspots()[0]).toMatchObject({ file: 'src/app.ts', strength: 1, deposits: 1 });
      clock.advance(24 * HOUR);
      expect(memory.hotspots()[0]?.strength).toBeCloseTo(0.5, 12);
      clock.advance(24 * HOUR);
      expect(memory.hotspots()[0]?.strength).toBeCloseTo(0.25, 12);

      const fast = open({ trailHalfLifeMs: 6 * HOUR });
      try {
        fast.recordOutcome({ taskId: 't1', domain: 'backend', status: 'completed', filesModified: ['src/app.ts'] });
        clock.advance(12 * HOUR);
        expect(fast.hotspots()[0]?.strength).toBeCloseTo(0.25, 12);
      } finally {
        fast.close();
      }
    });

    it('ranks files by the sum of their decayed deposits and counts recent failures', () => {
      memory.recordOutcome({ taskId: 'old', domain: 'backend', status: 'completed', filesModified: ['src/old.ts'] });
      clock.advance(48 * HOUR);
      memory.recordOutcome({ taskId: 'a', domain: 'backend', status: 'failed', error: 'boom', filesModified: ['src/hot.ts'], filesRead: ['src/read.ts'] });
      memory.recordOutcome({ taskId: 'b', domain: 'backend', status: 'completed', filesCreated: ['src/hot.ts'] });
      memory.recordOutcome({ taskId: 'c', domain: 'frontend', status: 'failed', filesModified: ['web/form.tsx', 'src/hot.ts'] });
      const all = memory.hotspots();
      expect(all.map((h) => h.file)).toEqual(['src/hot.ts', 'web/form.tsx', 'src/read.ts', 'src/old.ts']);
      expect(all[0]).toMatchObject({ strength: 3, deposits: 3, recentFailures: 2 });
      expect(all[2]).toMatchObject({ strength: 0.5 });
      expect(all[3]?.strength).toBeCloseTo(0.25, 12);
      const backend = memory.hotspots({ domain: 'backend', limit: 2 });
      expect(backend.map((h) => [h.file, h.strength, h.recentFailures])).toEqual([['src/hot.ts', 2, 1], ['src/read.ts', 0.5, 1]]);
    });

    it('deposits a replayed older outcome at its own time', () => {
      memory.recordOutcome({ taskId: 'new', domain: 'backend', status: 'completed', filesModified: ['x.ts'] });
      memory.recordOutcome({ taskId: 'late', domain: 'backend', status: 'completed', filesModified: ['x.ts'], finishedAt: new Date(clock.t - 24 * HOUR).toISOString() });
      expect(memory.hotspots()[0]?.strength).toBeCloseTo(1.5, 12);
    });
  });

  describe('heuristics', () => {
    const heuristic = (over: Partial<HeuristicInput> = {}): HeuristicInput => ({ domain: 'backend', rule: 'Hash passwords with argon2', source: 'person', ...over });

    it('returns the existing heuristic for the same rule in another case and spacing', () => {
      const first = memory.recordHeuristic(heuristic());
      const again = memory.recordHeuristic(heuristic({ rule: '  hash   PASSWORDS with Argon2 ', source: 'model' }));
      expect(first.created).toBe(true);
      expect(again).toMatchObject({ created: false, heuristic: { id: first.heuristic.id, rule: 'Hash passwords with argon2', source: 'person' } });
      expect(memory.recordHeuristic(heuristic({ domain: 'devops' })).created).toBe(true);
    });

    it('refuses bad input with the field and the reason', () => {
      const refused = (over: Partial<HeuristicInput>, pattern: RegExp) => {
        expect(() => memory.recordHeuristic(heuristic(over))).toThrow(InvalidInputError);
        expect(() => memory.recordHeuristic(heuristic(over))).toThrow(pattern);
      };
      refused({ rule: '   ' }, /^rule must not be empty/);
      refused({ rule: 'x'.repeat(501) }, /^rule is 501 characters long; at most 500/);
      refused({ context: 'y'.repeat(2001) }, /^context is 2001 characters long; at most 2000/);
      refused({ domain: 'Back End' }, /^domain must be a domain name.*'Back End'/);
      refused({ confidence: 1.5 }, /^confidence must be a number from 0 to 1, got 1.5/);
      refused({ confidence: -0.1 }, /^confidence must be a number from 0 to 1/);
      refused({ confidence: Number.NaN }, /^confidence must be a number from 0 to 1/);
      refused({ source: 'robot' as HeuristicInput['source'] }, /^source must be one of model, person, postmortem/);
      expect(memory.recordHeuristic(heuristic({ rule: 'x'.repeat(500), domain: '*' })).created).toBe(true);
      expect(() => memory.recordOutcome({ taskId: '', domain: 'backend', status: 'completed' })).toThrow(/^taskId must not be empty/);
      expect(() => memory.recordOutcome({ taskId: 't', domain: 'backend', status: 'done' as 'completed' })).toThrow(/^status must be one of completed, failed/);
      expect(() => memory.buildContext({ domain: 'backend', task: 'x', budgetTokens: 0 })).toThrow(/^budgetTokens must be an integer/);
    });

    it('answers an unknown heuristic id with not_found naming the id', () => {
      for (const call of [() => memory.getHeuristic(4242), () => memory.validate(4242), () => memory.violate(4242, 't'), () => memory.contradict(4242)]) {
        try {
          call();
          expect.unreachable();
        } catch (error) {
          expect(error).toBeInstanceOf(DanError);
          expect(error).toMatchObject({ code: 'not_found', exitCode: 2 });
          expect((error as Error).message).toContain('4242');
        }
      }
    });

    it('credits a heuristic once per task', () => {
      const { heuristic: h } = memory.recordHeuristic(heuristic());
      expect(memory.validate(h.id, 'task-9').applied).toBe(true);
      expect(memory.violate(h.id, 'task-9')).toMatchObject({ applied: false, reason: 'already_credited' });
      expect(memory.getHeuristic(h.id)).toMatchObject({ validations: 1, violations: 0 });
      expect(memory.validate(h.id, 'task-10').applied).toBe(true);
    });

    it('records a postmortem with its proposed rules as heuristics, all or nothing', () => {
      const result = memory.recordPostmortem({
        taskId: 'failed-1', domain: 'backend', error: 'ECONNREFUSED 127.0.0.1:5432', analysis: 'The database was not started.',
        proposedRules: ['Start the database before running migrations', 'Check DATABASE_URL before connecting'],
      });
      expect(result.heuristicIds).toHaveLength(2);
      for (const id of result.heuristicIds) expect(memory.getHeuristic(id)).toMatchObject({ source: 'postmortem', domain: 'backend', confidence: 0.5 });
      expect(memory.getHeuristic(result.heuristicIds[0]!).context).toContain('ECONNREFUSED');
      expect(() => memory.recordPostmortem({ taskId: 'failed-2', domain: 'backend', error: 'x', analysis: 'y', proposedRules: ['A fine rule', ''] }))
        .toThrow(/^proposedRules\[1\] must not be empty/);
      expect(memory.listHeuristics()).toHaveLength(2);
      expect(memory.stats().postmortems).toBe(1);
    });
  });

  describe('search', () => {
    beforeEach(() => {
      memory.recordHeuristic({ domain: 'backend', rule: 'Refresh auth tokens before they expire', source: 'person', confidence: 0.4 });
      memory.recordHeuristic({ domain: 'backend', rule: 'Sign auth tokens with a rotating key', source: 'person', confidence: 0.9 });
      memory.recordHeuristic({ domain: '*', rule: 'Never log auth tokens', source: 'person', confidence: 0.6 });
      memory.recordHeuristic({ domain: 'frontend', rule: 'Keep auth tokens out of localStorage', source: 'person', confidence: 0.7 });
      memory.recordOutcome({ taskId: 'o1', domain: 'backend', status: 'failed', description: 'Add token refresh endpoint', error: 'TypeError: token is undefined' });
      memory.recordOutcome({ taskId: 'o2', domain: 'frontend', status: 'completed', description: 'Signup form styling' });
    });

    it('finds heuristics and outcomes by words, stemmed, ranked by relevance times confidence', () => {
      const result = memory.search('auth token', { domain: 'backend' });
      const rules = result.heuristics.map((hit) => hit.heuristic.rule);
      expect(rules).toHaveLength(3);
      expect(rules).not.toContain('Keep auth tokens out of localStorage');
      expect(rules.indexOf('Sign auth tokens with a rotating key')).toBeLessThan(rules.indexOf('Refresh auth tokens before they expire'));
      const scores = result.heuristics.map((hit) => hit.score);
      expect([...scores].sort((a, b) => b - a)).toEqual(scores);
      expect(result.outcomes.map((hit) => hit.outcome.taskId)).toEqual(['o1']);
      expect(memory.search('signup').outcomes.map((hit) => hit.outcome.taskId)).toEqual(['o2']);
    });

    it('treats hostile query text as plain words, never as FTS syntax', () => {
      for (const text of ['"', '*', 'NEAR(', '-', '"auth', 'auth*', 'NEAR(auth tokens, 2)', '-auth', 'auth AND OR NOT', 'rule:auth', '^auth', '(((', ')', "'; DROP TABLE heuristics; --", '', '   ', '🙂']) {
        expect(() => memory.search(text)).not.toThrow();
        expect(() => memory.buildContext({ domain: 'backend', task: text })).not.toThrow();
      }
      expect(memory.search('NEAR(auth -tokens*').heuristics.length).toBeGreaterThan(0);
      expect(memory.search('"').heuristics).toEqual([]);
      expect(memory.stats().heuristics).toBe(4);
    });
  });

  describe('injections and credit', () => {
    it('records what was injected and credits exactly those heuristics, once', () => {
      const shown = memory.recordHeuristic({ domain: 'backend', rule: 'Validate request bodies with zod', source: 'person' }).heuristic;
      const other = memory.recordHeuristic({ domain: 'backend', rule: 'Cache rendered pages', source: 'person' }).heuristic;
      const context = memory.buildContext({ domain: 'backend', task: 'Validate the request bodies of the users endpoint', taskId: 'task-7', worker: 'api' });
      expect(context.heuristicIds).toEqual([shown.id]);
      expect(memory.injectionsFor('task-7')).toEqual([
        { taskId: 'task-7', domain: 'backend', worker: 'api', text: context.text, heuristicIds: [shown.id], tokens: context.tokens, createdAt: new Date(clock.t).toISOString() },
      ]);
      expect(memory.injectionsFor('task-unknown')).toEqual([]);

      clock.advance(HOUR);
      expect(memory.creditTask('task-7', 'completed')).toEqual([shown.id]);
      expect(memory.creditTask('task-7', 'completed')).toEqual([]);
      expect(memory.creditTask('task-7', 'failed')).toEqual([]);
      expect(memory.getHeuristic(shown.id)).toMatchObject({ validations: 1, violations: 0 });
      expect(memory.getHeuristic(shown.id).confidence).toBeCloseTo(0.55, 12);
      expect(memory.getHeuristic(other.id)).toMatchObject({ validations: 0, violations: 0, confidence: 0.5 });
      expect(memory.creditTask('task-never-injected', 'failed')).toEqual([]);
    });

    it('violates the injected heuristics of a failed task', () => {
      const h = memory.recordHeuristic({ domain: 'backend', rule: 'Run migrations in a transaction', source: 'model' }).heuristic;
      memory.approve(h.id);
      memory.buildContext({ domain: 'backend', task: 'add a migration', taskId: 'task-8', worker: 'db' });
      memory.buildContext({ domain: 'backend', task: 'migration for users', taskId: 'task-8', worker: 'api' });
      expect(memory.creditTask('task-8', 'failed')).toEqual([h.id]);
      expect(memory.getHeuristic(h.id)).toMatchObject({ violations: 1, confidence: 0.45 });
    });

    it('does not record anything without a task id', () => {
      memory.approve(memory.recordHeuristic({ domain: 'backend', rule: 'Run migrations in a transaction', source: 'model' }).heuristic.id);
      expect(memory.buildContext({ domain: 'backend', task: 'migration' }).heuristicIds).toHaveLength(1);
      expect(memory.stats().injections).toBe(0);
    });
  });

  it('records plans and counts everything in stats', () => {
    expect(memory.recordPlan({ taskId: 't', domain: 'backend', description: 'Add users API', plan: '1. schema 2. endpoint' }).id).toBe(1);
    expect(() => memory.recordPlan({ domain: 'backend', description: '', plan: 'x' })).toThrow(/^description must not be empty/);
    memory.recordOutcome({ taskId: 'f', domain: 'backend', status: 'failed', filesModified: ['a.ts'] });
    const stats = memory.stats();
    expect(stats).toMatchObject({ outcomes: { total: 1, byStatus: { failed: 1 } }, heuristics: 0, golden: 0, dormant: 0, trails: 1, plans: 1 });
    expect(stats.databaseBytes).toBeGreaterThan(0);
  });
});
