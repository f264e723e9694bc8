import { spawn } from 'node:child_process';
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

// 64 MiB: a lint run over a large repository; anything beyond is cut, not a reason to fail.
const MAX_OUTPUT = 64 * 1024 * 1024;

/**
 * Runs a problems command (`npm run lint`, `npx tsc --noEmit`, ...) with `sh -c` in `cwd` and parses
 * what it printed. Linters exit non-zero when they find problems, so the exit code alone says nothing.
 */
export function runProblemsCommand(command: string, cwd: string, timeoutMs: number, signal?: AbortSignal): Promise<ProblemsRun> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { cwd, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const add = (data: Buffer) => { if (output.length < MAX_OUTPUT) output += data.toString('utf8'); };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const abort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', abort, { once: true });
    child.once('error', (error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      resolve({ exitCode: null, output: error.message, problems: [], missing: true });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      resolve({ exitCode: code, output, problems: parseProblems(output, cwd), missing: code === 127 });
    });
  });
}

/** The last few lines of a command's output, on one line, for an error message. */
export function outputTail(output: string, lines = 3): string {
  return output.trim().split(/\r?\n/).slice(-lines).join(' | ').slice(0, 400) || '(no output)';
}
