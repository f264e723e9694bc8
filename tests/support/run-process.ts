import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program without blocking the test process (the main orchestrator under test may live in it)
 * and resolves with its exit code and output. Without `env`, the child inherits this environment.
 */
export function runProcess(program: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: options.env, cwd: options.cwd, timeout: options.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    // A program that exits without reading its input (git, a quick refusal) closes the pipe first:
    // that EPIPE is not an error of the run, whose exit code and output tell what happened.
    child.stdin.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Whether no process has this pid any more (signal 0 checks without sending anything). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * Whether a `sleep <seconds>` runs anywhere on this machine, found by its command line: a pid printed
 * inside a sandbox is one of its own pid namespace. A zombie runs nothing.
 */
export function sleepRuns(seconds: number): boolean {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).some((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === `sleep\0${seconds}\0` && stat.slice(stat.lastIndexOf(')') + 2).charAt(0) !== 'Z';
    } catch {
      return false;
    }
  });
}

/** A program started by `startNode`: its output so far (both streams) and its exit code once it exits. */
export interface StartedNode {
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

/**
 * Starts a Node program (`dan`, `dist/src/agent.js`) as an operator would, and keeps its output for
 * the test to read; `started` collects the children for an afterAll that kills what is left.
 */
export function startNode(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; started: ChildProcess[] }): StartedNode {
  const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env });
  options.started.push(child);
  const state: StartedNode = { child, log: '', exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stderr?.on('data', (chunk: Buffer) => { state.log += chunk.toString(); });
  child.stdout?.on('data', (chunk: Buffer) => { state.log += chunk.toString(); });
  return state;
}
