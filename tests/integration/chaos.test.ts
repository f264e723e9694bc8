import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { countEndings, failureReasons } from '../../src/chaos/chaos-checks.js';
import { parseChaosArgs } from '../../src/chaos/chaos-options.js';
import type { ChaosReport, ChaosRunReport } from '../../src/chaos/chaos-report.js';
import { malformedMessages } from '../../src/chaos/malformed-messages.js';
import { SeededRandom } from '../../src/chaos/seeded-random.js';
import { runProcess } from '../support/run-process.js';

const chaosBin = path.join(packageRoot(), 'dist/src/chaos/chaos.js');

/** Runs the built chaos suite (its own redis-server, model server and network) and reads its JSON. */
async function runChaos(args: string[], timeoutMs: number): Promise<{ code: number | null; report: ChaosReport; stderr: string }> {
  const run = await runProcess(process.execPath, [chaosBin, ...args, '--json'], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1' }, timeoutMs,
  });
  let report: ChaosReport;
  try {
    report = JSON.parse(run.stdout) as ChaosReport;
  } catch {
    throw new Error(`chaos printed no JSON (exit ${run.code}); stderr:\n${run.stderr.slice(-4000)}`);
  }
  return { code: run.code, report, stderr: run.stderr };
}

describe('npm run chaos, quick form, process spawner', () => {
  it('ends every task exactly once and dead-letters every malformed message while agents are killed and Redis restarts', async () => {
    const { code, report, stderr } = await runChaos(['--quick', '--spawner', 'process', '--seed', '4242'], 280_000);
    const run = report.runs['process'] as ChaosRunReport;
    expect(run, stderr.slice(-4000)).toHaveProperty('checks');
    const why = JSON.stringify(run.details, null, 1).slice(0, 6000);

    // The disruption really happened: agents died holding tasks, which ran again; Redis went away once.
    expect(run.kills).toBeGreaterThanOrEqual(2);
    expect(run.recovery_samples, why).toBeGreaterThan(0);
    expect(run.redis_down_ms).not.toBeNull();
    expect(run.tasks.submitted).toBe(60);
    expect(run.tasks.with_subtasks).toBeGreaterThan(60);

    expect(run.lost, why).toBe(0);
    expect(run.duplicate_completions, why).toBe(0);
    expect(run.stuck, why).toBe(0);
    expect(run.details.unrecorded_ids, why).toEqual([]);
    expect(run.tasks.completed + run.tasks.failed).toBe(run.tasks.with_subtasks);
    expect(run.malformed).toBe(100);
    expect(run.details.missing_dead_letters, why).toEqual([]);
    expect(run.dead_lettered).toBe(100);
    expect(run.details.recovered_ids_not_failed, why).toEqual([]);
    expect(run.leaked, why).toBe(0);
    // Tasks sent with --after crossed the kills and the restart: none ran before what it waited on.
    expect(run.checks.find((c) => c.name.startsWith('tasks with dependencies'))?.value, why).toMatch(/^0 of [1-9]/);
    expect(run.details.ran_before_dependencies, why).toEqual([]);
    // Gated tasks (some of them also waiting on others) parked, were approved across the kills and the restart, and none ran unapproved.
    expect(run.checks.find((c) => c.name.startsWith('tasks gated by approval'))?.value, why).toMatch(/^0 of [1-9]\d* \([1-9]\d* approved\)$/);
    expect(run.details.ran_unapproved, why).toEqual([]);

    // The top level carries the same keys, and the exit code follows the checks.
    expect(report).toMatchObject({ lost: 0, duplicate_completions: 0, stuck: 0, dead_lettered: 100 });
    expect(typeof report.recovery_ms_p50).toBe('number');
    expect(code).toBe(report.passed ? 0 : 1);
  }, 300_000);

  it('prints its usage with --help and refuses unknown options with exit 2', async () => {
    const help = await runProcess(process.execPath, [chaosBin, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--spawner process\|docker\|swarm\|both/);
    const bad = await runProcess(process.execPath, [chaosBin, '--tasks', 'many', '--frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--tasks must be an integer/);
    expect(bad.stderr).toMatch(/unknown option --frobnicate/);
  });
});

describe('chaos inputs', () => {
  it('reads the quick and full forms and explicit values', () => {
    expect(parseChaosArgs([])).toMatchObject({ tasks: 500, malformed: 1000, spawner: 'both', quick: false, json: false });
    expect(parseChaosArgs(['--quick', '--json', '--spawner=docker', '--seed', '9'])).toMatchObject({ tasks: 60, malformed: 100, spawner: 'docker', seed: 9, json: true });
    expect(parseChaosArgs(['--tasks', '7', '--malformed', '0'])).toMatchObject({ tasks: 7, malformed: 0 });
    expect(() => parseChaosArgs(['--spawner', 'vm'])).toThrow(/--spawner must be process, docker, swarm or both/);
  });

  it('makes the same malformed messages for the same seed, of every kind, none of which is a JSON object', () => {
    const a = malformedMessages(300, ['backend', 'main'], 't1', new SeededRandom(5));
    const b = malformedMessages(300, ['backend', 'main'], 't1', new SeededRandom(5));
    expect(a).toEqual(b);
    expect(new Set(a.map((m) => m.kind)).size).toBe(12);
    expect(a.filter((m) => m.kind === 'huge-string').every((m) => m.raw.length > 200_000)).toBe(true);
    for (const message of a) {
      let value: unknown;
      try {
        value = JSON.parse(message.raw);
      } catch {
        continue;
      }
      expect(value === null || typeof value !== 'object' || Array.isArray(value), message.raw.slice(0, 80)).toBe(true);
    }
    // Broken text that still names a task: that task must end failed (protocol.md).
    for (const message of a.filter((m) => m.recoverableId)) expect(message.raw).toMatch(new RegExp(`"task_id":\\s*"${message.recoverableId}"`));
  });

  it('counts a task lost, ended twice or ended without an event, from what Redis holds', () => {
    const endings = {
      taskIds: ['a', 'b', 'c', 'd', 'e'],
      status: new Map([['a', 'completed'], ['b', 'failed'], ['c', 'in_progress'], ['d', 'completed'], ['e', 'completed']]),
      errors: new Map([['b', 'gave up after 3 attempts; the last ended: agent backend-1a2b3c4d exited (SIGKILL)']]),
      finishedEvents: new Map([['a', 1], ['b', 1], ['d', 2]]),
    };
    const counts = countEndings(endings, ['a', 'b', 'c', 'd', 'e', 'f'], new Map([['a', 1], ['b', 2]]));
    expect(counts).toEqual({ completed: 3, failed: 1, lostIds: ['c', 'f'], duplicateIds: ['b', 'd'], unrecordedIds: ['e'] });
    expect(failureReasons(endings.errors)).toEqual({ 'gave up after N attempts; the last ended: agent backend-<agent> exited (SIGKILL)': 1 });
  });
});
