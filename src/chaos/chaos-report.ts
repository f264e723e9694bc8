import type { DeadLetterMatch, EndingCounts } from './chaos-checks.js';
import { percentile } from './chaos-checks.js';
import type { ApprovalCheck } from './chaos-approvals.js';
import type { DependencyCheck } from './chaos-dependencies.js';

/** The goals of the reliability issue, printed next to the figures and checked. */
export const GOALS = { lost: 0, duplicateCompletions: 0, stuck: 0, leaked: 0, recoveryMs: 10_000, resumeMs: 2_000 } as const;

export interface KillRecord {
  agentId: string;
  domain: string;
  /** When the kill landed (ms since epoch). */
  at: number;
  /** Tasks the agent held leases on just before. */
  held: string[];
  /** Per held task: kill -> claimed again (ms), or null when it was not claimed again after the kill. */
  rerunMs?: (number | null)[];
}

export interface RunFacts {
  spawner: 'process' | 'docker' | 'swarm';
  durationMs: number;
  submitted: number;
  mainTasks: number;
  /** Submitted tasks plus the sub-tasks main made. */
  allTasks: number;
  counts: EndingCounts;
  /** Why tasks failed (a failure is an ending, not a loss), by message. */
  failureReasons: Record<string, number>;
  left: Record<string, number>;
  malformed: number;
  deadLetters: DeadLetterMatch;
  kills: KillRecord[];
  /** Kill -> next claim of a task the killed agent held, ms, one per such task. */
  recoveries: number[];
  /** Held tasks with no claim after the kill (they ended before the kill landed, or never ran again). */
  notRerun: number;
  redisRestart: { downMs: number; resumeMs: number | undefined } | undefined;
  leaked: string[];
  /** Tasks sent to wait on others (`--after`), checked against them. */
  dependencies: DependencyCheck;
  /** Tasks gated by approval, checked against their results. */
  approvals: ApprovalCheck;
}

export interface Check {
  name: string;
  value: string;
  goal: string;
  passed: boolean;
}

/** The figures the issue names, reported per run and, at the top level, over every run. */
export interface ChaosFigures {
  lost: number;
  duplicate_completions: number;
  stuck: number;
  dead_lettered: number;
  malformed: number;
  recovery_ms_p50: number | null;
  recovery_ms_max: number | null;
  resume_ms: number | null;
  leaked: number;
}

/** One spawner's report: the JSON keys the issue names, the details behind them, and the checks. */
export interface ChaosRunReport extends ChaosFigures {
  spawner: 'process' | 'docker' | 'swarm';
  passed: boolean;
  tasks: { submitted: number; to_main: number; with_subtasks: number; completed: number; failed: number };
  kills: number;
  recovery_samples: number;
  held_not_rerun: number;
  redis_down_ms: number | null;
  duration_ms: number;
  details: {
    failure_reasons: Record<string, number>;
    lost_ids: string[];
    duplicate_ids: string[];
    unrecorded_ids: string[];
    stuck_keys: Record<string, number>;
    missing_dead_letters: DeadLetterMatch['missing'];
    recovered_ids_not_failed: string[];
    leaked_agents: string[];
    kills: { agent_id: string; domain: string; at: string; held: string[]; rerun_ms: (number | null)[] }[];
    /** Every kill -> claim-again time, ms. */
    recovery_ms: number[];
    /** Tasks with dependencies claimed before those had all completed. */
    ran_before_dependencies: string[];
    /** Tasks gated by approval that completed without one. */
    ran_unapproved: string[];
  };
  checks: Check[];
}

const finite = (n: number): number | null => (Number.isFinite(n) ? Math.round(n) : null);

export function buildRunReport(f: RunFacts): ChaosRunReport {
  const stuck = Object.values(f.left).reduce((a, b) => a + b, 0);
  const p50 = finite(percentile(f.recoveries, 50));
  const max = finite(percentile(f.recoveries, 100));
  const resume = f.redisRestart?.resumeMs ?? null;
  const checks: Check[] = [
    { name: 'tasks ended (completed / failed)', value: `${f.counts.completed + f.counts.failed} of ${f.allTasks} (${f.counts.completed} / ${f.counts.failed})`, goal: 'all', passed: f.counts.lostIds.length === 0 },
    { name: 'lost (never ended)', value: String(f.counts.lostIds.length), goal: '0', passed: f.counts.lostIds.length === GOALS.lost },
    { name: 'duplicate completions', value: String(f.counts.duplicateIds.length), goal: '0', passed: f.counts.duplicateIds.length === GOALS.duplicateCompletions },
    { name: 'endings without a task.finished event', value: String(f.counts.unrecordedIds.length), goal: '0', passed: f.counts.unrecordedIds.length === 0 },
    { name: 'stuck (active, pending, ingest, ready, delayed, leases)', value: String(stuck), goal: '0', passed: stuck === GOALS.stuck },
    { name: 'malformed messages dead-lettered', value: `${f.deadLetters.matched} of ${f.malformed}`, goal: 'all', passed: f.deadLetters.matched === f.malformed },
    { name: 'tasks named in broken JSON marked failed', value: String(f.deadLetters.recoveredNotFailed.length === 0 ? 'all' : `${f.deadLetters.recoveredNotFailed.length} not`), goal: 'all', passed: f.deadLetters.recoveredNotFailed.length === 0 },
    { name: `agent ${f.spawner === 'process' ? 'processes' : f.spawner === 'swarm' ? 'containers and services' : 'containers'} left after the network stopped`, value: String(f.leaked.length), goal: '0', passed: f.leaked.length === GOALS.leaked },
    { name: 'agents SIGKILLed', value: `${f.kills.length} (${f.recoveries.length} held tasks ran again)`, goal: '>= 1', passed: f.kills.length > 0 },
    { name: 'kill -> held task claimed again, p50 / max (ms)', value: `${p50 ?? 'n/a'} / ${max ?? 'n/a'}`, goal: `max <= ${GOALS.recoveryMs}`, passed: max !== null && max <= GOALS.recoveryMs },
    { name: 'tasks with dependencies run before those had completed', value: `${f.dependencies.ranEarly.length} of ${f.dependencies.dependents} (${f.dependencies.dependencyFailed} ended dependency_failed)`, goal: '0', passed: f.dependencies.dependents > 0 && f.dependencies.ranEarly.length === 0 },
    { name: 'tasks gated by approval that ran without one', value: `${f.approvals.ranUnapproved.length} of ${f.approvals.gated} (${f.approvals.approved} approved)`, goal: '0', passed: f.approvals.approved > 0 && f.approvals.ranUnapproved.length === 0 },
    { name: 'Redis restarts (append-only, graceful stop)', value: f.redisRestart ? `1 (down ${f.redisRestart.downMs} ms)` : '0', goal: '1', passed: f.redisRestart !== undefined },
    { name: 'Redis answering -> next task completed (ms)', value: String(resume ?? 'n/a'), goal: `<= ${GOALS.resumeMs}`, passed: resume !== null && resume <= GOALS.resumeMs },
  ];
  return {
    spawner: f.spawner,
    passed: checks.every((c) => c.passed),
    lost: f.counts.lostIds.length,
    duplicate_completions: f.counts.duplicateIds.length,
    stuck,
    dead_lettered: f.deadLetters.matched,
    malformed: f.malformed,
    recovery_ms_p50: p50,
    recovery_ms_max: max,
    resume_ms: resume,
    leaked: f.leaked.length,
    tasks: { submitted: f.submitted, to_main: f.mainTasks, with_subtasks: f.allTasks, completed: f.counts.completed, failed: f.counts.failed },
    kills: f.kills.length,
    recovery_samples: f.recoveries.length,
    held_not_rerun: f.notRerun,
    redis_down_ms: f.redisRestart?.downMs ?? null,
    duration_ms: f.durationMs,
    details: {
      failure_reasons: f.failureReasons,
      lost_ids: f.counts.lostIds,
      duplicate_ids: f.counts.duplicateIds,
      unrecorded_ids: f.counts.unrecordedIds,
      stuck_keys: f.left,
      missing_dead_letters: f.deadLetters.missing,
      recovered_ids_not_failed: f.deadLetters.recoveredNotFailed,
      leaked_agents: f.leaked,
      kills: f.kills.map((k) => ({ agent_id: k.agentId, domain: k.domain, at: new Date(k.at).toISOString(), held: k.held, rerun_ms: k.rerunMs ?? [] })),
      recovery_ms: f.recoveries,
      ran_before_dependencies: f.dependencies.ranEarly,
      ran_unapproved: f.approvals.ranUnapproved,
    },
    checks,
  };
}

/** A run that did not happen (no Docker engine), or that broke off with an error: the reason. */
export interface SkippedRun {
  spawner: 'process' | 'docker' | 'swarm';
  skipped?: string;
  error?: string;
}

/** The whole `--json` document: the runs, and at top level the same keys over every run that happened. */
export interface ChaosReport extends ChaosFigures {
  seed: number;
  quick: boolean;
  passed: boolean;
  goals: typeof GOALS;
  runs: Record<string, ChaosRunReport | SkippedRun>;
}

/**
 * Combines the runs: counts are summed, `recovery_ms_p50` is the median of every run's samples
 * together, maxima are the worst of the runs.
 */
export function combineReports(seed: number, quick: boolean, runs: (ChaosRunReport | SkippedRun)[]): ChaosReport {
  const done = runs.filter((r): r is ChaosRunReport => 'checks' in r);
  const sum = (pick: (r: ChaosRunReport) => number) => done.reduce((a, r) => a + pick(r), 0);
  const worst = (pick: (r: ChaosRunReport) => number | null) => {
    const values = done.map(pick).filter((v): v is number => v !== null);
    return values.length > 0 ? Math.max(...values) : null;
  };
  return {
    seed, quick,
    passed: done.length > 0 && done.every((r) => r.passed) && runs.every((r) => !('error' in r)),
    lost: sum((r) => r.lost),
    duplicate_completions: sum((r) => r.duplicate_completions),
    stuck: sum((r) => r.stuck),
    dead_lettered: sum((r) => r.dead_lettered),
    malformed: sum((r) => r.malformed),
    recovery_ms_p50: finite(percentile(done.flatMap((r) => r.details.recovery_ms), 50)),
    recovery_ms_max: worst((r) => r.recovery_ms_max),
    resume_ms: worst((r) => r.resume_ms),
    leaked: sum((r) => r.leaked),
    goals: GOALS,
    runs: Object.fromEntries(runs.map((r) => [r.spawner, r])),
  };
}

/** One Markdown table per spawner, the goal next to each figure. */
export function formatReport(report: ChaosReport): string {
  const out: string[] = [`chaos suite, seed ${report.seed}${report.quick ? ' (quick form)' : ''}`];
  for (const run of Object.values(report.runs)) {
    out.push('');
    if (!('checks' in run)) {
      out.push(run.error ? `${run.spawner} spawner: FAILED to run: ${run.error}` : `${run.spawner} spawner: skipped (${run.skipped ?? ''})`);
      continue;
    }
    out.push(`${run.spawner} spawner: ${run.tasks.submitted} tasks (${run.tasks.to_main} to main), ${run.malformed} malformed messages, ${run.kills} kills, ${(run.duration_ms / 1000).toFixed(0)} s`);
    out.push('| check | result | goal | |', '|---|---|---|---|');
    for (const c of run.checks) out.push(`| ${c.name} | ${c.value} | ${c.goal} | ${c.passed ? 'ok' : 'FAIL'} |`);
    const d = run.details;
    const show = (label: string, items: unknown[]) => { if (items.length > 0) out.push(`${label}: ${items.slice(0, 20).map((i) => (typeof i === 'string' ? i : JSON.stringify(i))).join(', ')}${items.length > 20 ? ` ... (${items.length})` : ''}`); };
    show('failed because', Object.entries(d.failure_reasons).sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${n} x ${reason}`));
    show('lost', d.lost_ids);
    show('ended twice', d.duplicate_ids);
    show('ended without an event', d.unrecorded_ids);
    show('left in', Object.entries(d.stuck_keys).map(([k, n]) => `${k}=${n}`));
    show('not dead-lettered', d.missing_dead_letters);
    show('named in broken JSON but not failed', d.recovered_ids_not_failed);
    show('leaked', d.leaked_agents);
  }
  out.push('', report.passed ? 'every check passed' : 'some checks FAILED');
  return `${out.join('\n')}\n`;
}
