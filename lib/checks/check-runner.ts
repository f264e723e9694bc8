import type { ChildProcess } from 'node:child_process';
import { OutputCollector } from '../llm/tools/output-collector.js';
import { killCommand, type CommandSandbox } from '../sandbox/command-sandbox.js';

/** How one check ended: what a task's result lists under `checks` and what the workers are shown. */
export interface CheckRun {
  command: string;
  /** The command's exit code; null when it was killed (timeout, the task stopped) or could not start. */
  exit_code: number | null;
  duration_ms: number;
  ok: boolean;
  /** The last `CHECK_TAIL_CHARS` of its output (stdout and stderr interleaved). */
  output_tail: string;
  /** The worker round after which it ran (1 is the first). */
  round: number;
  /** Why it did not end by itself: `timeout`, `not_found` (exit 127, or it could not start), `stopped` (the task ended). */
  ended?: 'timeout' | 'not_found' | 'stopped';
}

/** Where and how long a check may run. */
export interface CheckPlace {
  sandbox: CommandSandbox;
  /** The task's workspace: the check starts there and may write there only. */
  cwd: string;
  /** Folders it may read besides (a worktree's repository `.git`). */
  readOnly?: readonly string[];
  timeoutMs: number;
  /** Bytes of output kept (the first and last halves); the rest is left out and the text says so. */
  maxOutputBytes: number;
}

// 4000 characters: a compiler's last errors or a test runner's summary, small beside a model's context.
export const CHECK_TAIL_CHARS = 4000;
// After the check exits or is killed, output still in the pipe gets this long; a process that escaped
// the group and holds the pipe open is then cut off.
const PIPE_DRAIN_MS = 200;

/**
 * Runs one check (`npx tsc --noEmit`, `npm test`) with `sh -c` in the task's workspace, in the command
 * sandbox: a check comes from a task or a domain's definition and runs code the workers wrote, so it
 * gets the workspace and the toolchain only. It always resolves, once: a check that exits 0 is ok;
 * anything else (a non-zero exit, a command not found, a timeout, a refused sandbox, the task stopping)
 * is a failed check with the reason in its output. It and all it started are killed when it ends.
 */
export function runCheck(command: string, round: number, place: CheckPlace, signal?: AbortSignal): Promise<CheckRun> {
  const started = Date.now();
  const ended = (exitCode: number | null, output: string, ending?: CheckRun['ended']): CheckRun => ({
    command, exit_code: exitCode, duration_ms: Date.now() - started, ok: exitCode === 0 && ending === undefined,
    output_tail: outputTail(output), round, ...(ending ? { ended: ending } : {}),
  });
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = place.sandbox.spawn({
        argv: ['sh', '-c', 'exec 2>&1; exec sh -c "$1"', 'sh', command],
        cwd: place.cwd,
        readOnly: place.readOnly ?? [],
        env: { FORCE_COLOR: '0', NO_COLOR: '1', CI: '1' },
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch (error) {
      resolve(ended(null, error instanceof Error ? error.message : String(error), 'not_found'));
      return;
    }
    const collector = new OutputCollector(place.maxOutputBytes);
    let ending: CheckRun['ended'];
    let exitCode: number | null = null;
    let settled = false;
    let drain: NodeJS.Timeout | undefined;
    const kill = (why: CheckRun['ended']) => () => {
      ending ??= why;
      killCommand(child);
      drain ??= setTimeout(() => child.stdout?.destroy(), PIPE_DRAIN_MS);
    };
    const onAbort = kill('stopped');
    const timer = setTimeout(kill('timeout'), place.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (run: CheckRun) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (drain) clearTimeout(drain);
      signal?.removeEventListener('abort', onAbort);
      resolve(run);
    };
    child.stdout?.on('data', (chunk: Buffer) => collector.push(chunk));
    child.once('error', (error) => {
      killCommand(child);
      finish(ended(null, error.message, 'not_found'));
    });
    child.once('exit', (code) => {
      exitCode = code;
      // What the check left running in the background goes with it.
      killCommand(child);
      drain ??= setTimeout(() => child.stdout?.destroy(), PIPE_DRAIN_MS);
    });
    child.once('close', () => {
      const output = collector.text();
      if (ending === 'timeout') finish(ended(null, `${output.trimEnd()}\n[killed after ${place.timeoutMs} ms: DAN_CHECK_TIMEOUT_MS]`, 'timeout'));
      else if (ending === 'stopped') finish(ended(null, `${output.trimEnd()}\n[stopped: the task ended]`, 'stopped'));
      else finish(ended(exitCode, output, exitCode === 127 ? 'not_found' : undefined));
    });
  });
}

/** The last `CHECK_TAIL_CHARS` of a check's output, trimmed; `(no output)` when it printed nothing. */
export function outputTail(output: string): string {
  const text = output.trim();
  if (text === '') return '(no output)';
  return text.length <= CHECK_TAIL_CHARS ? text : `...${text.slice(-CHECK_TAIL_CHARS)}`;
}
