import type { ChildProcess, StdioOptions } from 'node:child_process';
import { DanError, OperatorErrorCode } from '../errors.js';

/** A command a task or a model causes, and the folders it may use. */
export interface SandboxedCommand {
  /** The program and its arguments, e.g. `['sh', '-c', 'npm run lint']`. */
  argv: readonly string[];
  /** An absolute folder: the command starts there and may read and write in it. */
  cwd: string;
  /** More folders it may read but not change (a worktree's repository, for git). */
  readOnly?: readonly string[];
  /** Variables beyond the minimal environment (`sandboxEnvironment`); never credentials. */
  env?: Readonly<Record<string, string>>;
  stdio: StdioOptions;
}

/**
 * Runs every command a task or a model causes (Bash, a farm's problems command, checks), so that a
 * hostile model or a forged task gets the task's workspace and the toolchain, and nothing of the
 * agent that runs it: no secret, no Redis, no other files, no lasting process.
 *
 * `spawn` starts the command as the leader of its own process group; `killCommand` ends it and all it
 * started. Implementations: `BubblewrapSandbox` (a namespace sandbox on hosts), `UnsandboxedRunner`
 * (inside a domain container, where the container is the sandbox, or where a person turned it off).
 */
export interface CommandSandbox {
  /** How commands are confined, for the start-up log and error messages. */
  readonly kind: SandboxKind;
  /** Starts the command; throws `SandboxUnavailableError` where commands are refused. */
  spawn(command: SandboxedCommand): ChildProcess;
}

export type SandboxKind = 'bubblewrap' | 'container' | 'off' | 'refused';

/** The values of DAN_SANDBOX. */
export const SANDBOX_MODES = ['auto', 'bubblewrap', 'off'] as const;
export type SandboxMode = (typeof SANDBOX_MODES)[number];

/** Thrown instead of running a command where no sandbox can be had and none was waived. */
export class SandboxUnavailableError extends DanError {
  constructor(reason: string) {
    super(
      OperatorErrorCode.sandboxUnavailable,
      `commands are refused: ${reason}. Install bubblewrap ('apt-get install bubblewrap') on a host where user ` +
        `namespaces are allowed, or set DAN_SANDBOX=off to run commands without a sandbox (only for trusted tasks and models)`,
    );
    this.name = 'SandboxUnavailableError';
  }
}

// Variables a command may keep from the agent's environment: none is a credential. Git identity lets
// a model commit in the workspace as before; LANG/TZ keep tool output as the user knows it.
const PASSED_NAMES = ['LANG', 'LC_ALL', 'TZ', 'TERM', 'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL'];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The whole environment of a sandboxed command: PATH, HOME (the command's folder), TMPDIR, a few
 * harmless variables from the agent, and the command's own. Built from nothing rather than scrubbed
 * from the agent's, so a secret with an unexpected name cannot slip through.
 */
export function sandboxEnvironment(command: SandboxedCommand, agentEnv: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { PATH: agentEnv['PATH'] ?? DEFAULT_PATH, HOME: command.cwd, TMPDIR: '/tmp' };
  for (const name of PASSED_NAMES) {
    const value = agentEnv[name];
    if (value !== undefined && value !== '') env[name] = value;
  }
  return { ...env, ...command.env };
}

/**
 * Ends a sandboxed command and everything it started: SIGKILL to its process group. Under bubblewrap
 * that kills bwrap, whose pid namespace then takes every process in it along, `setsid` or not.
 */
export function killCommand(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}
