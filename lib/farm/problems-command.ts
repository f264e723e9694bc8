import type { ChildProcess } from 'node:child_process';
import { killCommand, type CommandSandbox } from '../sandbox/command-sandbox.js';
import type { Problem } from './problems.js';
import { parseProblems } from './problems.js';

export interface ProblemsRun {
  exitCode: number | null;
  /** stdout and stderr, interleaved as they came. */
  output: string;
  problems: Problem[];
  /** The shell could not find the command (exit 127), or it could not start at all. */
  missing: boolean;
}

/** Where a problems command runs: its sandbox, and folders it may read besides its own. */
export interface ProblemsCommandPlace {
  sandbox: CommandSandbox;
  /** A worktree's repository `.git` folder, so git works in the worktree (read-only). */
  readOnly?: readonly string[];
}

// 64 MiB: a lint run over a large repository; anything beyond is cut, not a reason to fail.
const MAX_OUTPUT = 64 * 1024 * 1024;

/**
 * Runs a problems command (`npm run lint`, `npx tsc --noEmit`, ...) with `sh -c` in `cwd`, in the
 * command sandbox, and parses what it printed. The command comes from a task, so it gets only `cwd`
 * and the toolchain; it and all it started are killed when it ends, times out or the task stops.
 * Linters exit non-zero when they find problems, so the exit code alone says nothing.
 */
export function runProblemsCommand(command: string, cwd: string, timeoutMs: number, place: ProblemsCommandPlace, signal?: AbortSignal): Promise<ProblemsRun> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = place.sandbox.spawn({
        argv: ['sh', '-c', command],
        cwd,
        readOnly: place.readOnly ?? [],
        env: { FORCE_COLOR: '0', NO_COLOR: '1', CI: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      resolve({ exitCode: null, output: error instanceof Error ? error.message : String(error), problems: [], missing: true });
      return;
    }
    let output = '';
    const add = (data: Buffer) => { if (output.length < MAX_OUTPUT) output += data.toString('utf8'); };
    child.stdout?.on('data', add);
    child.stderr?.on('data', add);
    const kill = () => killCommand(child);
    const timer = setTimeout(kill, timeoutMs);
    signal?.addEventListener('abort', kill, { once: true });
    // What the command left running in the background goes with it.
    child.once('exit', kill);
    child.once('error', (error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      resolve({ exitCode: null, output: error.message, problems: [], missing: true });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      resolve({ exitCode: code, output, problems: parseProblems(output, cwd), missing: code === 127 });
    });
  });
}

/**
 * Why a run's problem count cannot be believed, or undefined when it can. A command that was not
 * found, was killed (timeout, signal), or exited non-zero without one problem the farm can read did
 * not check anything: its count is unknown, never zero (a missing `tsc` prints nothing to parse).
 * Exit 0 with nothing to read is a clean run; problems read are counted whatever the exit code.
 */
export function unknownCountReason(run: ProblemsRun): string | undefined {
  if (run.missing) return `it was not found or could not start (${outputTail(run.output, 1)})`;
  if (run.exitCode === null) return 'it was killed (a timeout or a signal) before it finished';
  if (run.exitCode !== 0 && run.problems.length === 0) return `it exited ${run.exitCode} without a problem the farm can read: ${outputTail(run.output)}`;
  return undefined;
}

/** The last few lines of a command's output, on one line, for an error message. */
export function outputTail(output: string, lines = 3): string {
  return output.trim().split(/\r?\n/).slice(-lines).join(' | ').slice(0, 400) || '(no output)';
}
