import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { OutputCollector } from './output-collector.js';
import { killCommand } from '../../sandbox/command-sandbox.js';
import { commandSandbox } from '../../sandbox/resolve-sandbox.js';
import { AbortedError, ToolError, throwIfAborted } from './tool-error.js';
import { parseToolInput, type ToolContext, type WorkerTool } from './worker-tool.js';

const inputSchema = z.object({
  command: z.string().min(1),
  timeout: z.number().int().positive().optional(),
  // Claude Code's Bash takes a description too; accepted and unused.
  description: z.string().optional(),
});

// After the command exits or is killed, output still in the pipe gets this long to arrive; a
// process that escaped the group (setsid) and holds the pipe open is then cut off.
const PIPE_DRAIN_MS = 200;

/** The shell a command runs in. */
export type CommandShell = 'bash' | 'sh';

/**
 * `bash` where the PATH has it, else `sh`: the offline agent image (busybox) has no bash, and the
 * audit's Bash calls there all failed with `spawn bash ENOENT` rather than run in the shell it has.
 */
export function commandShell(searchPath: string = process.env['PATH'] ?? ''): CommandShell {
  const found = searchPath.split(path.delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(path.join(dir, 'bash'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return found ? 'bash' : 'sh';
}

/**
 * Bash: runs `bash -c <command>` (`sh -c` where bash is not installed, which the description then says) in the workspace root, in the command sandbox (`ctx.sandbox`): it sees
 * the workspace and the toolchain, a minimal environment, no network and none of the agent's
 * processes. Time is bounded by `min(timeout, bashTimeoutMs)`; on timeout, abort, or once the command
 * exits, the sandbox is killed with everything in it. Output (stdout and stderr interleaved) is cut
 * to `maxOutputBytes`. A non-zero exit is a `ToolError`. The files a command creates or changes are
 * not recorded in the tracker.
 */
export function createBashTool(shell: CommandShell = commandShell()): WorkerTool {
  const runs = shell === 'bash' ? 'Runs a bash command' : 'Runs a shell command with sh (bash is not installed here: use POSIX sh syntax)';
  return {
    definition: {
      name: 'Bash',
      description:
        `${runs} in the workspace root and returns its output (stdout and stderr together) and exit code. ` +
        'Use it to build, run tests and use git. It runs in a sandbox: only the workspace is writable and there is no network, ' +
        'so dependencies must already be installed. timeout is in milliseconds; long output is truncated. ' +
        'Commands left running in the background are stopped when the command ends.',
      input_schema: {
        type: 'object',
        properties: {
          command: { type: 'string', description: 'The command to run' },
          timeout: { type: 'integer', description: 'Timeout in milliseconds (capped by the worker setting)' },
          description: { type: 'string', description: 'A few words on what the command does' },
        },
        required: ['command'],
      },
    },
    run: (input, ctx) => bash(parseToolInput('Bash', inputSchema, input), ctx, shell),
  };
}

interface CommandOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  timedOut: boolean;
}

async function bash(input: z.infer<typeof inputSchema>, ctx: ToolContext, shell: CommandShell): Promise<string> {
  const timeoutMs = Math.min(input.timeout ?? ctx.bashTimeoutMs, ctx.bashTimeoutMs);
  ctx.logger?.debug({ command: input.command.slice(0, 200), timeoutMs }, 'bash command');
  const outcome = await runCommand(input.command, ctx, timeoutMs, shell);
  const output = outcome.output === '' ? '(no output)' : outcome.output.replace(/\n$/, '');
  if (outcome.timedOut) {
    throw new ToolError(
      `command timed out after ${timeoutMs} ms and was killed; make it faster or run fewer steps at once ` +
        `(timeout is capped at ${ctx.bashTimeoutMs} ms)\n${output}`,
    );
  }
  if (outcome.code === 0) return `${output}\n[exit code 0]`;
  if (outcome.code === null) throw new ToolError(`command was killed by ${outcome.signal ?? 'a signal'}\n${output}`);
  throw new ToolError(`command failed with exit code ${outcome.code}\n${output}\n[exit code ${outcome.code}]`);
}

function runCommand(command: string, ctx: ToolContext, timeoutMs: number, shell: CommandShell): Promise<CommandOutcome> {
  throwIfAborted(ctx.signal, 'the command');
  return new Promise<CommandOutcome>((resolve, reject) => {
    // The outer shell points stderr at the stdout pipe, then becomes the user's `bash -c` (same pid,
    // same group), so both streams arrive interleaved in one pipe in the order they were written.
    let child: ChildProcess;
    try {
      child = (ctx.sandbox ?? commandSandbox('auto', ctx.logger)).spawn({
        argv: [shell, '-c', `exec 2>&1; exec ${shell} -c "$1"`, shell, command],
        cwd: ctx.jail.root,
        ...(ctx.readOnly ? { readOnly: ctx.readOnly } : {}),
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch (error) {
      reject(new ToolError(`${shell} could not be started: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      return;
    }
    const collector = new OutputCollector(ctx.maxOutputBytes);
    let timedOut = false;
    let settled = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    const killGroup = (): void => killCommand(child);
    const cutPipeSoon = (): void => {
      drainTimer ??= setTimeout(() => child.stdout?.destroy(), PIPE_DRAIN_MS);
    };
    const finish = (): void => {
      settled = true;
      clearTimeout(timer);
      if (drainTimer) clearTimeout(drainTimer);
      ctx.signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      if (settled) return;
      killGroup();
      child.stdout?.destroy();
      finish();
      reject(new AbortedError('the command', ctx.signal?.reason));
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
      cutPipeSoon();
    }, timeoutMs);

    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout?.on('data', (chunk: Buffer) => collector.push(chunk));
    child.on('error', (error) => {
      if (settled) return;
      killGroup();
      finish();
      reject(new ToolError(`${shell} could not be started: ${error.message}`, { cause: error }));
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Whatever the command left running in the background goes with it.
      killGroup();
      cutPipeSoon();
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      finish();
      const ended = exit ?? { code, signal };
      resolve({ code: ended.code, signal: ended.signal, output: collector.text(), timedOut });
    });
  });
}
