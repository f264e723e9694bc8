import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../config.js';
import { withoutWithheldSettings } from '../config/agent-env.js';
import { DanError, InvalidInputError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { AGENT_BUNDLE, domainCommand } from './domain-command.js';
import { readLines, RecentLines } from './output-lines.js';
import type { AgentExit, SpawnedAgent, SpawnRequest, Spawner } from './spawner.js';

/** How `ProcessSpawner` starts agents; every field has a default that suits `dan start` on one machine. */
export interface ProcessSpawnerOptions {
  /**
   * Program and arguments of an agent; default: this Node with the domain flags (DOMAIN_NODE_FLAGS)
   * running the package's bundled agent, `dist/bundle/agent.mjs` (`npm run build` makes it from
   * src/agent.ts: one file loads faster than the few hundred modules of `dist/src/agent.js`, which
   * runs the same code).
   */
  command?: string[];
  logger?: Logger;
  /** Working directory of the children; default: the current one. */
  cwd?: string;
  /** Environment every child inherits, under the request's own variables; default: `process.env`. */
  baseEnv?: NodeJS.ProcessEnv;
  /** Output lines kept per agent for `lastLines()`; default 200. */
  logLines?: number;
  /** Every output line of every agent as it arrives (`dan up` shows them formatted). */
  onLine?: (agentId: string, line: string) => void;
}

/** The options after defaults and checks, as the spawner uses them. */
export interface ResolvedProcessSpawnerOptions {
  command: [string, ...string[]];
  /** The bundled entry when `command` is the default one, so a missing build can be named as the cause. */
  defaultEntry: string | undefined;
  logger: Logger;
  cwd: string | undefined;
  baseEnv: NodeJS.ProcessEnv;
  logLines: number;
  onLine: ((agentId: string, line: string) => void) | undefined;
}

/** Fills in the defaults of `ProcessSpawnerOptions` and rejects values that cannot work. */
export function resolveProcessSpawnerOptions(options: ProcessSpawnerOptions = {}): ResolvedProcessSpawnerOptions {
  const bundle = path.join(packageRoot(), AGENT_BUNDLE);
  const [program, ...args] = options.command ?? domainCommand(process.execPath, bundle);
  if (program === undefined || program === '') throw new InvalidInputError('ProcessSpawner: command must name a program');
  const logLines = options.logLines ?? 200;
  if (!Number.isInteger(logLines) || logLines < 1) throw new InvalidInputError(`ProcessSpawner: logLines must be a positive integer, got ${logLines}`);
  return {
    command: [program, ...args],
    defaultEntry: options.command ? undefined : bundle,
    logger: options.logger ?? silentLogger,
    cwd: options.cwd,
    baseEnv: options.baseEnv ?? process.env,
    logLines,
    onLine: options.onLine,
  };
}

// After a child exits, its pipes may stay open if it left a grandchild behind; stop waiting for them then.
const drainWaitMs = 1_000;

interface Running {
  agent: SpawnedAgent;
  child: ChildProcess;
  /** Resolves once the exit has been recorded and the listeners called. */
  ended: Promise<void>;
  stopping: Promise<void> | undefined;
}

/**
 * Runs each domain orchestrator as a child process of the main orchestrator: the default for a
 * single machine and for tests, where Docker is not needed. Children are not detached, so they share
 * the parent's process group, and their output is kept per agent for error messages.
 */
export class ProcessSpawner implements Spawner {
  readonly kind = 'process' as const;
  private readonly options: ResolvedProcessSpawnerOptions;
  private readonly running = new Map<string, Running>();
  private readonly starting = new Set<string>();
  private readonly lines: RecentLines;
  private readonly listeners: Array<(exit: AgentExit) => void> = [];
  private closed = false;
  private closeGraceMs = 10_000;

  constructor(options: ProcessSpawnerOptions = {}) {
    this.options = resolveProcessSpawnerOptions(options);
    this.lines = new RecentLines(this.options.logLines, (agentId) => this.running.has(agentId));
  }

  async spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    const { agentId, domain } = request;
    const [program, ...args] = this.options.command;
    const commandText = this.options.command.join(' ');
    if (this.closed) throw new DanError('spawner_closed', `cannot start agent ${agentId}: the process spawner is closed`);
    if (this.running.has(agentId) || this.starting.has(agentId)) {
      throw new DanError('agent_exists', `cannot start agent ${agentId}: an agent with that id is already running`);
    }
    const entry = this.options.defaultEntry;
    if (entry !== undefined && !existsSync(entry)) {
      throw new DanError('spawn_failed', `cannot start agent ${agentId}: ${entry} does not exist; run 'npm run build' first`);
    }

    // DAN_PARENT_PID: the agent stops by itself once this process is gone, even if that happens
    // before it has read its own parent pid.
    // Settings agents must not get (DAN_SPAWNER, Docker's, main's) are dropped from what the child
    // inherits, so a process agent sees what a container would: the request's environment decides.
    const env: NodeJS.ProcessEnv = { ...withoutWithheldSettings(this.options.baseEnv), ...request.env, DAN_PARENT_PID: String(process.pid) };
    // Reserved until the start is settled, so a second spawn of the id meanwhile is refused too.
    this.starting.add(agentId);
    let child: ChildProcess;
    try {
      child = spawn(program, args, { cwd: this.options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      const hint = code === 'ENOENT' ? ` (not found${this.options.cwd ? `, or the working directory ${this.options.cwd} is missing` : ''})` : '';
      throw new DanError('spawn_failed', `cannot start agent ${agentId}: command '${commandText}' failed with ${code}${hint}`, { cause: error });
    } finally {
      this.starting.delete(agentId);
    }

    // No output or exit is lost between 'spawn' and here: the pipes stay paused until read, and
    // 'exit' is emitted on a later turn of the event loop than the one that resumed this function.
    const agent: SpawnedAgent = { agentId, domain, handle: String(child.pid), startedAt: Date.now() };
    const keep = this.lines.start(agentId);
    const log = this.options.logger.child({ agentId, domain });
    child.on('error', (error) => log.warn({ err: error }, 'agent process error'));
    const drained = [
      readLines(child.stdout, (line) => { keep(line); log.debug({ stream: 'stdout' }, line); this.options.onLine?.(agentId, line); }),
      readLines(child.stderr, (line) => { keep(line); log.debug({ stream: 'stderr' }, line); this.options.onLine?.(agentId, line); }),
    ];
    const ended = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        void this.finish(agent, child, drained, code, signal).then(resolve);
      });
    });
    this.running.set(agentId, { agent, child, ended, stopping: undefined });
    log.info({ pid: child.pid, command: commandText }, 'agent process started');
    if (this.closed) {
      // close() ran while this child was starting and could not see it: stop it as close() would have.
      await this.stop(agentId, this.closeGraceMs);
      throw new DanError('spawner_closed', `agent ${agentId} was stopped at once: the process spawner was closed while it started`);
    }
    return { ...agent };
  }

  async stop(agentId: string, graceMs = 10_000): Promise<void> {
    const entry = this.running.get(agentId);
    if (!entry) return;
    entry.stopping ??= this.terminate(entry, graceMs);
    await entry.stopping;
  }

  list(): SpawnedAgent[] {
    return [...this.running.values()].map((entry) => ({ ...entry.agent }));
  }

  async lastLines(agentId: string, count = this.options.logLines): Promise<string[]> {
    return this.lines.last(agentId, count);
  }

  onExit(listener: (exit: AgentExit) => void): void {
    this.listeners.push(listener);
  }

  /** Refuses new spawns, then stops every child; resolves when none is left. */
  async close(graceMs = 10_000): Promise<void> {
    this.closed = true;
    this.closeGraceMs = graceMs;
    await Promise.all([...this.running.keys()].map((agentId) => this.stop(agentId, graceMs)));
  }

  private async terminate(entry: Running, graceMs: number): Promise<void> {
    const log = this.options.logger.child({ agentId: entry.agent.agentId, domain: entry.agent.domain });
    log.info({ graceMs }, 'stopping agent process');
    signal(entry.child, 'SIGTERM');
    const timer = setTimeout(() => {
      log.warn({ graceMs }, 'agent process ignored SIGTERM; killing it');
      signal(entry.child, 'SIGKILL');
    }, graceMs);
    try {
      await entry.ended;
    } finally {
      clearTimeout(timer);
    }
  }

  private async finish(agent: SpawnedAgent, child: ChildProcess, drained: Promise<void>[], code: number | null, sig: NodeJS.Signals | null): Promise<void> {
    let waiting: NodeJS.Timeout | undefined;
    const cut = new Promise<void>((resolve) => { waiting = setTimeout(resolve, drainWaitMs); });
    await Promise.race([Promise.all(drained), cut]);
    clearTimeout(waiting);
    child.stdout?.destroy();
    child.stderr?.destroy();
    this.running.delete(agent.agentId);
    const exit: AgentExit = { agentId: agent.agentId, domain: agent.domain, code, signal: sig };
    this.options.logger.info({ agentId: agent.agentId, domain: agent.domain, code, signal: sig }, 'agent process exited');
    for (const listener of this.listeners) {
      try {
        listener(exit);
      } catch (error) {
        this.options.logger.error({ err: error, agentId: agent.agentId }, 'exit listener failed');
      }
    }
  }
}

/** Sends a signal, ignoring a child that has already gone. */
function signal(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill(name);
  } catch {
    // The process ended between the check and the signal: nothing left to stop.
  }
}
