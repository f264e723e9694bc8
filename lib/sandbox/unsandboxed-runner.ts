import { spawn, type ChildProcess } from 'node:child_process';
import { sandboxEnvironment, SandboxUnavailableError, type CommandSandbox, type SandboxedCommand } from './command-sandbox.js';

/**
 * Commands as plain child processes, with the minimal environment and in their own process group,
 * but seeing every file, process and network the agent can. Used in two cases only: inside a domain
 * container (`kind: 'container'`), where the container is the sandbox, and where a person set
 * DAN_SANDBOX=off (`kind: 'off'`), which the agent logs as a warning at start.
 */
export class UnsandboxedRunner implements CommandSandbox {
  constructor(readonly kind: 'container' | 'off') {}

  spawn(command: SandboxedCommand): ChildProcess {
    const [program, ...args] = command.argv;
    if (program === undefined) throw new Error('a sandboxed command needs a program');
    return spawn(program, args, { cwd: command.cwd, env: sandboxEnvironment(command), detached: true, stdio: command.stdio });
  }
}

/** Where no sandbox can be had and none was waived: every command is refused, with the fix. */
export class RefusingSandbox implements CommandSandbox {
  readonly kind = 'refused';

  /** Why no sandbox could be had, for messages. */
  constructor(readonly reason: string) {}

  spawn(): ChildProcess {
    throw new SandboxUnavailableError(this.reason);
  }
}
