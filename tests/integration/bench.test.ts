import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import type { CacheResult, RateLimitResult } from '../../src/bench/rate-limit.js';
import type { SentinelResult } from '../../src/bench/sentinel.js';
import type { WorkflowResult } from '../../src/bench/workflow.js';
import type { VerificationResult } from '../../src/bench/verification.js';
import { runProcess } from '../support/run-process.js';

const bench = path.join(packageRoot(), 'dist/src/bench/bench.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// `npm run bench --quick` with no --only runs every scenario; the test runs it once and checks each one.
const SCENARIOS = ['throughput', 'latency', 'redis_cost', 'ceiling', 'scale', 'spawn', 'memory', 'capacity', 'model_path', 'recovery', 'verification', 'api', 'metrics', 'dashboard', 'sentinel', 'ratelimit', 'cache', 'workflow', 'budgets'];
// The scenarios whose figures are all measurements (> 0); the others count outcomes, where 0 is the goal
// (capacity's memory per waiting worker is a difference of two readings: in a quick run it may be 0 or less).
const MEASURED = ['throughput', 'latency', 'redis_cost', 'ceiling', 'scale', 'spawn', 'memory', 'model_path', 'recovery', 'api', 'metrics', 'dashboard'];

/** Every number under `value`, with its path; strings and booleans are left out. */
function numbers(value: unknown, at: string): [string, number][] {
  if (typeof value === 'number') return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => numbers(v, `${at}[${i}]`));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => numbers(v, `${at}.${k}`));
  return [];
}

interface Goal { measure: string; value: string; goal: string; met: boolean | null }
interface BudgetsResult { tasks: number; calls: number; refused_workers: number; workers_per_task: number; over_by_more_than_one_call: number; max_overspend_usd: number; max_call_usd: number }
interface MetricsResult { tasks: number; scrapes: number; commands: { total: number; byCommand: Record<string, number> }; ms: { p50: number }; bytes: number }
interface Scenarios {
  spawn: { process: unknown; docker: Record<string, unknown> };
  memory: Record<string, unknown>;
  metrics: MetricsResult;
  verification: VerificationResult;
  ratelimit: RateLimitResult;
  cache: CacheResult;
  workflow: WorkflowResult;
  sentinel: SentinelResult;
  budgets: BudgetsResult;
}
interface Report { machine: Record<string, unknown>; direct_vs_bullmq: number; routed_vs_bullmq: number; scenarios: Scenarios; goals: Goal[] }

describe('npm run bench', () => {
  it('prints its options with --help and refuses an unknown one', async () => {
    const help = await runProcess(process.execPath, [bench, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--quick/);
    expect(help.stdout).toMatch(/--only/);
    const wrong = await runProcess(process.execPath, [bench, '--fast']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/unknown option --fast/);
  });

  describe('--quick --json, every scenario in one run (seed 7 for the verification plan)', () => {
    const out = path.join(dir, 'bench.json');
    let stderr = '';
    let report: Report;
    let printed: Record<string, unknown>;

    beforeAll(async () => {
      const run = await runProcess(process.execPath, [bench, '--quick', '--seed', '7', '--json', '--out', out], { timeoutMs: 840_000 });
      stderr = run.stderr;
      expect(run.code, run.stderr.slice(-3000)).toBe(0);
      printed = JSON.parse(run.stdout) as Record<string, unknown>;
      report = printed as unknown as Report;
    }, 900_000);

    it('measures every scenario with finite positive numbers and writes the same JSON to its file', () => {
      expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(printed);
      const machine = report.machine;
      expect(machine['cores']).toBeGreaterThan(0);
      expect(machine['redis']).toMatch(/^\d+\.\d+/);
      expect(typeof machine['docker']).toBe('string');
      expect(report.direct_vs_bullmq).toBeGreaterThan(0);
      expect(report.routed_vs_bullmq).toBeGreaterThan(0);

      const scenarios = report.scenarios as unknown as Record<string, unknown>;
      expect(Object.keys(scenarios).sort()).toEqual([...SCENARIOS].sort());
      const { spawn, memory } = report.scenarios;
      if ('skipped' in spawn.docker) {
        // No engine (or no image) here: the row says why, and the container's memory is not made up.
        expect(process.env['DAN_REQUIRE_DOCKER']).not.toBe('1');
        expect(spawn.docker['skipped']).toMatch(/Docker/);
        expect(memory['domain_container_rss_mb']).toBeNull();
      } else {
        expect(memory['domain_container_rss_mb']).toBeGreaterThan(0);
      }
      // Private memory is a part of resident memory.
      expect(memory['domain_process_private_mb']).toBeLessThan(memory['domain_process_rss_mb'] as number);
      const capacity = scenarios['capacity'] as Record<string, number>;
      expect(capacity['waiting']).toBeGreaterThan(0);
      expect(Number.isFinite(capacity['mb_per_waiting_worker'])).toBe(true);
      const figures = numbers(Object.fromEntries(MEASURED.map((name) => [name, scenarios[name]])), 'scenarios');
      expect(figures.length).toBeGreaterThan(40);
      const bad = figures.filter(([, v]) => !Number.isFinite(v) || v <= 0);
      expect(bad).toEqual([]);

      // Each goal of the issue is in the table next to its measurement.
      for (const goal of ['>= 1.2x', '>= 0.6x', 'p99 <= 10 ms', 'p99 <= 20 ms', '<= 12', '>= 0.3', 'median <= 400 ms', 'median <= 1,000 ms', '<= 60 MB', '>= 17', '<= 10 s', '>= 0.7x', 'p99 < 5 ms']) {
        expect(report.goals.some((g) => g.goal === goal && g.value !== ''), goal).toBe(true);
      }
      expect(stderr).toMatch(/\| measure \| value \| goal \| met \|/);
    });

    it('metrics: the cost of a scrape, in Redis commands that do not grow with the tasks queued', () => {
      const metrics = report.scenarios.metrics;
      expect(metrics.tasks).toBe(5_000);
      expect(metrics.ms.p50).toBeGreaterThan(0);
      expect(metrics.bytes).toBeGreaterThan(1_000);
      // Lengths and counters: a few dozen reads per scrape, never one per task.
      expect(metrics.commands.total).toBeGreaterThan(0);
      expect(metrics.commands.total).toBeLessThan(200);
      expect(Object.keys(metrics.commands.byCommand)).not.toContain('lrange');
    });

    it('verification: every completed task passes its check when run again, and the counts add up to the seeded plan', () => {
      const v = report.scenarios.verification;
      const { first_try: firstTry, after_1: after1, after_2: after2, never, review_request: reviewRequest, review_request_in_last_round: reviewTooLate } = v.planned;
      expect(v.seed).toBe(7);
      expect(v.tasks).toBeGreaterThanOrEqual(20);
      // Every kind of task is in the plan, and every task is in exactly one.
      expect([firstTry, after1, after2, never, reviewRequest, reviewTooLate].every((k) => k > 0)).toBe(true);
      expect(firstTry + after1 + after2 + never).toBe(v.tasks);

      // The goal: no task completed whose check fails; and the re-run does tell broken code from working.
      expect(v.completed_with_failing_check).toBe(0);
      expect(v.failed_with_passing_check).toBe(0);
      // Each task ended as its plan says: right at once, repaired within the 3 rounds, verification_failed
      // or changes_requested, in the rounds the plan gives.
      expect(v.unexpected).toBe(0);
      expect(v.completed).toBe(v.tasks - never - reviewTooLate);
      expect(v.verification_failed).toBe(never);
      expect(v.changes_requested).toBe(reviewTooLate);
      expect(v.repaired).toBe(v.completed - v.completed_first_try);
      expect(v.completed_first_try).toBeGreaterThan(0);
      expect(v.repair_rounds.checks).toBe(after1 + 2 * after2 + (v.rounds_allowed - 1) * never);
      // A request in a task's last round has no round after it.
      expect(v.repair_rounds.review).toBe(reviewRequest - reviewTooLate);
      // One review per round whose check passed: none for the tasks never right.
      expect(v.reviews_per_task).toBeGreaterThan(0);

      // The cost: each repair round is one more round of the worker's turns, and each review one turn of the reviewer's.
      expect(v.turns_per_task.without).toBeGreaterThan(0);
      const repairs = v.repair_rounds.checks + v.repair_rounds.review;
      expect(v.turns_per_task.extra).toBeCloseTo((v.turns_per_task.without * repairs) / v.tasks + v.reviews_per_task, 1);
      expect(v.tokens_per_task.with_checks).toBeGreaterThan(v.tokens_per_task.without);
      expect(v.tokens_per_task.extra).toBe(v.tokens_per_task.with_checks - v.tokens_per_task.without);
      expect(v.check_ms_per_task).toBeGreaterThan(0);
      expect(v.wall_ms.with_checks).toBeGreaterThan(0);
      expect(v.wall_ms.without).toBeGreaterThan(0);

      const goal = report.goals.find((g) => g.measure.includes('completed with a failing check'));
      expect(goal).toMatchObject({ value: '0', goal: '0', met: true });
      expect(stderr).toMatch(/repaired within the rounds/);
    });

    it('ratelimit, cache: no window at the model server holds more requests than the shared limit, no task fails, and the cache pays', () => {
      const { ratelimit, cache } = report.scenarios;
      expect(ratelimit.requests).toBeGreaterThan(ratelimit.limit);
      expect(ratelimit.most_in_any_window).toBeLessThanOrEqual(ratelimit.limit);
      expect(ratelimit.failed_tasks).toBe(0);
      expect(cache.turns).toBe(10);
      expect(cache.cache_read_share).toBeGreaterThanOrEqual(0.7);
    });

    it('workflow: a fan-out/fan-in workflow on the local model, its release-to-start figures and commands per step', () => {
      const w = report.scenarios.workflow;
      expect(w.steps).toBe(12);
      // Every step but the first needs another: one sample each.
      expect(w.release_to_start_ms.samples).toBe(11);
      expect(w.release_to_start_ms.p99).toBeGreaterThanOrEqual(w.release_to_start_ms.median);
      expect(w.commands_per_step).toBeGreaterThan(0);
      expect(report.goals.some((g) => g.measure.startsWith('workflow of 12 steps') && g.goal === 'median <= 100 ms')).toBe(true);
    });

    it('sentinel: failovers of a real master with replicas and Sentinels; the replica wait loses no acknowledged submit', () => {
      const s = report.scenarios.sentinel;
      if ('skipped' in s) throw new Error(`the sentinel scenario was skipped here: ${s.skipped}`);
      // One failover as it is and one with the replicas paused, each timed.
      expect(s.kill_to_next_completed_ms.runs).toBe(2);
      expect(s.kill_to_next_completed_ms.worst).toBeGreaterThan(0);
      for (const kind of [s.crash, s.replicas_paused]) {
        for (const mode of [kind.no_wait, kind.wait_1]) {
          expect(mode.failovers).toBe(1);
          expect(mode.acknowledged_before_kill).toBeGreaterThan(0);
          expect(mode.lost).toBeLessThanOrEqual(mode.acknowledged_before_kill);
        }
        // A submit acknowledged with WAIT 1 is on the replica the Sentinels promote (the most advanced).
        expect(kind.wait_1.lost).toBe(0);
      }
      expect(s.submit_no_wait.per_s).toBeGreaterThan(0);
      expect(s.submit_wait_1.median_ms).toBeGreaterThan(0);
      // The issue gives no numeric goal for the five Sentinel rows.
      const first = report.goals.findIndex((g) => g.measure.startsWith('Sentinel:'));
      expect(first).toBeGreaterThanOrEqual(0);
      const rows = report.goals.slice(first, first + 5);
      expect(rows.every((g) => /Sentinel|submit/.test(g.measure))).toBe(true);
      expect(rows.every((g) => g.goal === '')).toBe(true);
    });

    it('budgets: tasks with random budgets and concurrent workers pass no budget by more than one call', () => {
      const b = report.scenarios.budgets;
      expect(b.tasks).toBe(10);
      expect(b.calls).toBeGreaterThan(b.tasks);
      expect(b.refused_workers).toBe(b.tasks * b.workers_per_task);
      expect(b.over_by_more_than_one_call).toBe(0);
      expect(b.max_overspend_usd).toBeLessThanOrEqual(b.max_call_usd);
      expect(report.goals.find((g) => g.measure.startsWith('budgets:'))?.met).toBe(true);
    });
  });
});
