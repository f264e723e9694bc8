import type { VerifyMode } from '../protocol/task.js';
import type { CheckRun } from './check-runner.js';

/**
 * The checks a task runs after its workers, in order: the domain's, then the task's own (`add`, the
 * default), or the task's alone (`replace`, which with an empty list turns the domain's checks off
 * for this task). Repeated commands run once.
 */
export function taskChecks(domainChecks: readonly string[], taskChecks: readonly string[] | undefined, mode: VerifyMode = 'add'): string[] {
  const wanted = mode === 'replace' ? (taskChecks ?? []) : [...domainChecks, ...(taskChecks ?? [])];
  return [...new Set(wanted.map((c) => c.trim()).filter((c) => c !== ''))];
}

/**
 * What the workers of the next round are shown of the checks that failed: each command, how it
 * ended and the tail of its output. Kept in the task's context under `failed_checks`, which the
 * worker's first message renders (src/worker/worker-prompt.ts).
 */
export interface FailedCheck {
  command: string;
  exit_code: number | null;
  output_tail: string;
}

/** The failed checks of one round, for the next round's workers. */
export function failedChecks(runs: readonly CheckRun[]): FailedCheck[] {
  return runs.filter((r) => !r.ok).map((r) => ({ command: r.command, exit_code: r.exit_code, output_tail: r.output_tail }));
}

/** How a check ended, in words: `exit 1`, `killed after its timeout`, `not found`. */
export function checkEnding(run: Pick<CheckRun, 'exit_code' | 'ended'>): string {
  if (run.ended === 'timeout') return 'killed after its timeout';
  if (run.ended === 'stopped') return 'stopped with the task';
  if (run.ended === 'not_found') return run.exit_code === 127 ? 'not found (exit 127)' : 'could not start';
  return `exit ${run.exit_code ?? '?'}`;
}
