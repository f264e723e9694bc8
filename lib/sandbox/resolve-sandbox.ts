import { existsSync } from 'node:fs';
import type { Logger } from '../logger.js';
import { ownContainerId } from '../runtime/container-id.js';
import { BubblewrapSandbox } from './bubblewrap-sandbox.js';
import type { CommandSandbox, SandboxKind, SandboxMode } from './command-sandbox.js';
import { RefusingSandbox, UnsandboxedRunner } from './unsandboxed-runner.js';

/** What the host offers, for `chooseSandbox`. */
export interface SandboxHost {
  /** Why bubblewrap cannot run here, or undefined when it can. */
  bubblewrapProblem: string | undefined;
  /** This process runs in a container (a domain container of the Docker spawner). */
  inContainer: boolean;
}

/**
 * Which sandbox a DAN_SANDBOX mode gets on a host, and the reason to log. `auto` takes bubblewrap
 * where it works; in a container where it does not (no user namespaces), the container is the
 * sandbox; elsewhere commands are refused rather than run with the agent's rights.
 */
export function chooseSandbox(mode: SandboxMode, host: SandboxHost): { kind: SandboxKind; reason: string } {
  if (mode === 'off') return { kind: 'off', reason: 'DAN_SANDBOX=off: commands run with the agent\'s files, processes and network' };
  if (host.bubblewrapProblem === undefined) return { kind: 'bubblewrap', reason: 'commands run in a bubblewrap sandbox' };
  if (mode === 'auto' && host.inContainer) {
    return { kind: 'container', reason: `the container is the sandbox (${host.bubblewrapProblem})` };
  }
  return { kind: 'refused', reason: host.bubblewrapProblem };
}

const chosen = new Map<SandboxMode, CommandSandbox>();

/**
 * The sandbox of this process for `mode`, decided once (bubblewrap is probed the first time) and
 * logged then: a warning where commands are unconfined or refused, so a person sees it at start.
 */
export function commandSandbox(mode: SandboxMode, logger?: Logger): CommandSandbox {
  const known = chosen.get(mode);
  if (known) return known;
  const bubblewrap = new BubblewrapSandbox();
  const host: SandboxHost = {
    bubblewrapProblem: mode === 'off' ? undefined : bubblewrap.problem(),
    inContainer: ownContainerId() !== undefined || existsSync('/.dockerenv'),
  };
  const { kind, reason } = chooseSandbox(mode, host);
  const sandbox = kind === 'bubblewrap' ? bubblewrap : kind === 'refused' ? new RefusingSandbox(reason) : new UnsandboxedRunner(kind);
  if (kind === 'bubblewrap') logger?.info({ sandbox: kind }, reason);
  else if (kind === 'refused') logger?.warn({ sandbox: kind }, `Bash and problems commands are refused: ${reason}; install bubblewrap, or set DAN_SANDBOX=off to run them unconfined`);
  else logger?.warn({ sandbox: kind }, `commands run without a namespace sandbox: ${reason}`);
  chosen.set(mode, sandbox);
  return sandbox;
}
