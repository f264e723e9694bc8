import type { CheckPlace, CheckRun } from '../../lib/checks/check-runner.js';
import { runCheck } from '../../lib/checks/check-runner.js';
import { checkEnding, failedChecks, taskChecks, type FailedCheck } from '../../lib/checks/task-checks.js';
import { asFailureCode, FailureCode } from '../../lib/protocol/failure.js';
import { addUsage, emptyUsage, type TokenUsage } from '../../lib/protocol/result.js';
import type { Task, VerifyMode } from '../../lib/protocol/task.js';
import type { TaskHandler } from '../../lib/runtime/task-consumer.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import { RefusingSandbox } from '../../lib/sandbox/unsandboxed-runner.js';
import type { BranchTaskContext } from './task-branch-step.js';

/** What a step after the checks (a review) decides on a round's work, and the model tokens it spent deciding. */
export type RoundVerdict =
  | { passed: true; fields: Record<string, unknown>; usage?: Partial<TokenUsage> }
  | {
    passed: false;
    fields: Record<string, unknown>;
    usage?: Partial<TokenUsage>;
    /** The next round's news for the workers, added to the task's context. */
    context: Record<string, unknown>;
    /** How the task fails when no round is left. */
    failure: { code: FailureCode; message: string };
  };

/**
 * A judge of each round's work that runs once the round's checks passed: another reason for a next
 * round, beside a failed check. Its `fields` join the task's output; a step that cannot judge throws
 * a `TaskFailedError`.
 */
export interface RoundStep {
  name: string;
  run(input: { ctx: BranchTaskContext; round: number; output: Record<string, unknown> }): Promise<RoundVerdict>;
}

export interface VerifiedHandlerDeps {
  /** One round of the domain's workers (`createDomainHandler`). */
  workers: TaskHandler;
  /** The domain's own checks (`verify:` in domain.md). */
  domainChecks: readonly string[];
  /**
   * Where a task's checks run: its workspace (`ctx.workspace`, the task's own worktree when it works on
   * a branch), the sandbox, the time and output they may take.
   */
  place: (task: Task, ctx: BranchTaskContext) => CheckPlace;
  /** Worker rounds at most, the first included (DAN_VERIFY_ROUNDS). */
  rounds: number;
  /** Judges after the checks, in order (the domain's reviewer); none: the checks alone decide. */
  after?: readonly RoundStep[];
}

/** The checks a task asks for in its metadata, already validated by the task's schema. */
function checksOf(task: Task): { commands: string[] | undefined; mode: VerifyMode } {
  const verify = task.metadata['verify'];
  return {
    commands: Array.isArray(verify) ? verify.filter((c): c is string => typeof c === 'string') : undefined,
    mode: task.metadata['verify_mode'] === 'replace' ? 'replace' : 'add',
  };
}

/**
 * A domain's work on a task with checks: a round of workers, then every check in the task's
 * workspace; while one fails and rounds are left, the workers run again with the failed checks'
 * exit codes and output tails in their first message. The task completes only when every check
 * passes, else it fails once with `verification_failed`. A task with no checks runs its workers once,
 * as before. The result lists every check that ran (`checks`) and the rounds it took (`rounds`).
 *
 * Steps after the checks (`after`: a reviewer) judge a round whose checks passed; one that does not
 * pass is another reason for a next round, its context the workers' news, as failed checks are.
 */
export function createVerifiedHandler(deps: VerifiedHandlerDeps): TaskHandler {
  return async (ctx: BranchTaskContext) => {
    const { task } = ctx;
    const wanted = checksOf(task);
    const checks = task.type === 'echo' ? [] : taskChecks(deps.domainChecks, wanted.commands, wanted.mode);
    const after = task.type === 'echo' ? [] : deps.after ?? [];
    if (checks.length === 0 && after.length === 0) {
      const output = await deps.workers(ctx);
      return task.type === 'echo' ? output : { ...output, checks: [] };
    }
    const place = deps.place(task, ctx);
    if (checks.length > 0 && place.sandbox instanceof RefusingSandbox) {
      // Refused before any worker runs: the model turns would be spent on work nobody can check.
      throw new TaskFailedError(
        `the task's checks cannot run: commands are refused here (${place.sandbox.reason}); install bubblewrap, or set DAN_SANDBOX=off to run them unconfined`,
        { summary: 'checks cannot run here', files_created: [], files_modified: [], checks: [] }, FailureCode.verificationUnavailable,
      );
    }
    const runs: CheckRun[] = [];
    let merged: Record<string, unknown> | undefined;
    // The last round's news for the workers: its failed checks, or what a step after them asked for.
    let feedback: Record<string, unknown> | undefined;
    let fields: Record<string, unknown> = {};
    for (let round = 1; ; round++) {
      const roundTask: Task = feedback === undefined ? task : { ...task, context: { ...task.context, ...feedback } };
      if (round > 1) await ctx.log(`round ${round} of ${deps.rounds}: the workers get ${newsOf(feedback)}`);
      try {
        merged = mergeRounds(merged, await deps.workers({ ...ctx, task: roundTask }));
      } catch (error) {
        if (!(error instanceof TaskFailedError)) throw error;
        throw new TaskFailedError(error.message, { ...mergeRounds(merged, error.output), ...fields, checks: runs, rounds: round }, asFailureCode(error.code), { retryable: error.retryable });
      }
      const these: CheckRun[] = [];
      for (const command of checks) {
        const run = await runCheck(command, round, place, ctx.signal);
        these.push(run);
        runs.push(run);
        await ctx.log(`check ${run.ok ? 'passed' : 'failed'} (${checkEnding(run)}, ${run.duration_ms} ms): ${command}`);
        // A missing command fails the same way every round, and a stopped task runs no more.
        if (run.ended === 'not_found' || run.ended === 'stopped') break;
      }
      const failed = these.find((r) => !r.ok);
      let output: Record<string, unknown> = { ...merged, ...fields, checks: runs, rounds: round };
      if (failed === undefined) {
        const judged = await judge(after, { ctx: { ...ctx, task: roundTask }, round, output });
        // The judges' tokens count with the workers' (mergeRounds carries them to later rounds).
        merged = mergeRounds(merged, { ...merged, workers_used: [], files_created: [], files_modified: [], files_read: [], usage: judged.usage });
        fields = { ...fields, ...judged.fields };
        output = { ...output, ...fields, usage: merged['usage'] };
        if (judged.verdict === undefined) return output;
        if (round >= deps.rounds || ctx.signal.aborted) throw new TaskFailedError(judged.verdict.failure.message, output, judged.verdict.failure.code);
        feedback = judged.verdict.context;
        continue;
      }
      if (failed.ended === 'not_found') {
        throw new TaskFailedError(
          `check \`${failed.command}\` ${checkEnding(failed)}: ${lastLines(failed.output_tail)}; fix the command in the domain's verify: or the task's --verify (it runs with sh -c in the task's workspace)`,
          output, FailureCode.verificationFailed,
        );
      }
      if (round >= deps.rounds || ctx.signal.aborted) {
        throw new TaskFailedError(
          `check \`${failed.command}\` still failed after ${round} round(s) (${checkEnding(failed)}): ${lastLines(failed.output_tail)}`,
          output, FailureCode.verificationFailed,
        );
      }
      feedback = { failed_checks: failedChecks(these) satisfies FailedCheck[] };
    }
  };
}

/** Runs the steps after the checks in order, up to the first that does not pass. */
async function judge(steps: readonly RoundStep[], input: Parameters<RoundStep['run']>[0]): Promise<{ fields: Record<string, unknown>; usage: TokenUsage; verdict?: Extract<RoundVerdict, { passed: false }> }> {
  let fields: Record<string, unknown> = {};
  const usage = emptyUsage();
  for (const step of steps) {
    const verdict = await step.run({ ...input, output: { ...input.output, ...fields } });
    fields = { ...fields, ...verdict.fields };
    addUsage(usage, verdict.usage);
    if (!verdict.passed) return { fields, usage, verdict };
  }
  return { fields, usage };
}

/** The news of a round for the log: what the workers get this time. */
function newsOf(feedback: Record<string, unknown> | undefined): string {
  const names: Record<string, string> = { failed_checks: 'failed check(s)', review_comments: 'review comment(s)' };
  return Object.entries(feedback ?? {}).map(([key, value]) => `${Array.isArray(value) ? value.length : 1} ${names[key] ?? key}`).join(', ');
}

/** The last lines of a check's output on one line, for the task's error text. */
function lastLines(tail: string, lines = 3): string {
  return tail.split(/\r?\n/).filter((l) => l.trim() !== '').slice(-lines).join(' | ').slice(-400) || '(no output)';
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

/**
 * One output for all rounds: the last round's summary and workers, the files every round created or
 * changed (a file created in round 1 and fixed in round 2 stays created), and the tokens of them all.
 */
export function mergeRounds(before: Record<string, unknown> | undefined, next: Record<string, unknown>): Record<string, unknown> {
  if (before === undefined) return next;
  const created = [...new Set([...strings(before['files_created']), ...strings(next['files_created'])])].sort();
  const modified = [...new Set([...strings(before['files_modified']), ...strings(next['files_modified'])])].filter((f) => !created.includes(f)).sort();
  const read = [...new Set([...strings(before['files_read']), ...strings(next['files_read'])])].filter((f) => !created.includes(f) && !modified.includes(f)).sort();
  const usage = emptyUsage();
  addUsage(usage, before['usage'] as Partial<TokenUsage> | undefined);
  addUsage(usage, next['usage'] as Partial<TokenUsage> | undefined);
  return {
    ...next,
    workers_used: [...new Set([...strings(before['workers_used']), ...strings(next['workers_used'])])],
    files_created: created, files_modified: modified, files_read: read, usage,
  };
}
