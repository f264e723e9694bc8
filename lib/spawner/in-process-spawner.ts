import type pino from 'pino';
import { loadConfig, type Config } from '../config.js';
import { DanError, InvalidInputError } from '../errors.js';
import { createLogger, knownSecrets, redactText, silentLogger, type Logger } from '../logger.js';
import { RecentLines } from './output-lines.js';
import type { AgentExit, SpawnedAgent, SpawnRequest, Spawner } from './spawner.js';

/** What an agent started in this process gives back: how to stop it, and when it has ended. */
export interface InProcessAgent {
  /** Settles when the agent has stopped: resolves after a clean stop (idle, told to), rejects on failure. */
  done: Promise<unknown>;
  stop(): Promise<void>;
}

/** What the start function gets: the agent's own settings, parsed from the request as a child would parse its environment. */
export interface InProcessAgentContext {
  config: Readonly<Config>;
  agentId: string;
  domain: string;
  /** Writes the agent's lines into the spawner's record of it, for `lastLines()`. */
  logger: Logger;
  /** The request's environment, for what is read where used rather than from the config (the API key). */
  env: Record<string, string>;
}

/** Starts one agent inside this process; lib/ does not know the programs, so the caller brings this. */
export type StartInProcessAgent = (context: InProcessAgentContext) => Promise<InProcessAgent>;

export interface InProcessSpawnerOptions {
  start: StartInProcessAgent;
  /** The spawner's own lines (agent started, stopped); agents log to their own recorded loggers. */
  logger?: Logger;
  /** Environment under the request's own variables, as a child would inherit it; default: none. */
  baseEnv?: Record<string, string>;
  /** Lines kept per agent for `lastLines()`; default 200. */
  logLines?: number;
  /** Every line of every agent as it is written. */
  onLine?: (agentId: string, line: string) => void;
}

interface Running {
  agent: SpawnedAgent;
  /** The agent once its start function has resolved; undefined while it starts or when starting failed. */
  started: Promise<InProcessAgent | undefined>;
  /** Resolves once the exit has been reported. */
  ended: Promise<void>;
  stopping: Promise<void> | undefined;
}

/**
 * Runs each domain agent inside the current process instead of a child process: no Node start-up
 * and module loading per agent, so tests that do not test spawning run faster, and `dan demo`-like
 * tools can run a whole network in one process. Agents share the process, so what only a separate
 * process gives is missing: a signal or a pid reaches them all at once, and an agent that ignores
 * `stop` cannot be killed; after the grace it is reported as killed and left to finish on its own.
 */
export class InProcessSpawner implements Spawner {
  readonly kind = 'in-process' as const;
  private readonly running = new Map<string, Running>();
  private readonly lines: RecentLines;
  private readonly listeners: Array<(exit: AgentExit) => void> = [];
  private readonly logger: Logger;
  private closed = false;

  constructor(private readonly options: InProcessSpawnerOptions) {
    const logLines = options.logLines ?? 200;
    if (!Number.isInteger(logLines) || logLines < 1) throw new InvalidInputError(`InProcessSpawner: logLines must be a positive integer, got ${logLines}`);
    this.logger = options.logger ?? silentLogger;
    this.lines = new RecentLines(logLines, (agentId) => this.running.has(agentId));
  }

  /** Resolves at once, as a child process would have started; the agent loads and registers afterwards. */
  async spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    const { agentId, domain } = request;
    if (this.closed) throw new DanError('spawner_closed', `cannot start agent ${agentId}: the in-process spawner is closed`);
    if (this.running.has(agentId)) throw new DanError('agent_exists', `cannot start agent ${agentId}: an agent with that id is already running`);
    const env = { ...this.options.baseEnv, ...request.env };
    const agent: SpawnedAgent = { agentId, domain, handle: `in-process:${agentId}`, startedAt: Date.now() };
    const keep = this.lines.start(agentId);
    const record = (line: string): void => {
      keep(line);
      this.options.onLine?.(agentId, line);
    };
    const started = this.startAgent(agentId, domain, env, record);
    const entry: Running = { agent, started: started.then((outcome) => ('agent' in outcome ? outcome.agent : undefined)), ended: Promise.resolve(), stopping: undefined };
    entry.ended = started.then(async (outcome) => {
      if (!('agent' in outcome)) return outcome.code;
      try {
        await outcome.agent.done;
        return 0;
      } catch (error) {
        record(failureLine(error, env));
        return 1;
      }
    }).then((code) => this.finish(entry, code, null));
    this.running.set(agentId, entry);
    this.logger.info({ agentId, domain }, 'agent started in process');
    return { ...agent };
  }

  /** Calls the agent's `stop`; one that has not ended after `graceMs` is reported killed and forgotten. */
  async stop(agentId: string, graceMs = 10_000): Promise<void> {
    const entry = this.running.get(agentId);
    if (!entry) return;
    entry.stopping ??= this.terminate(entry, graceMs);
    await entry.stopping;
  }

  list(): SpawnedAgent[] {
    return [...this.running.values()].map((entry) => ({ ...entry.agent }));
  }

  async lastLines(agentId: string, count?: number): Promise<string[]> {
    return this.lines.last(agentId, count);
  }

  onExit(listener: (exit: AgentExit) => void): void {
    this.listeners.push(listener);
  }

  /** Refuses new spawns, then stops every agent; resolves when none is left. */
  async close(graceMs = 10_000): Promise<void> {
    this.closed = true;
    await Promise.all([...this.running.keys()].map((agentId) => this.stop(agentId, graceMs)));
  }

  /**
   * Parses the agent's settings from its environment, as `dist/src/agent.js` does, and runs the start
   * function; a failure becomes the agent's last line (as a child's stderr would hold it) and the exit
   * code the agent program would have ended with (2 for bad configuration, 3 for Redis, else 1).
   */
  private async startAgent(agentId: string, domain: string, env: Record<string, string>, record: (line: string) => void): Promise<{ agent: InProcessAgent } | { code: number }> {
    try {
      const config = loadConfig(env);
      const logger = createLogger({ level: config.logLevel, base: { agentId, domain }, destination: lineDestination(record), secrets: knownSecrets(env) });
      return { agent: await this.options.start({ config, agentId, domain, logger, env }) };
    } catch (error) {
      record(failureLine(error, env));
      return { code: error instanceof DanError ? error.exitCode : 1 };
    }
  }

  private async terminate(entry: Running, graceMs: number): Promise<void> {
    const { agentId, domain } = entry.agent;
    this.logger.info({ agentId, domain, graceMs }, 'stopping agent in process');
    // One still starting is stopped as soon as it has started; the grace counts from now either way.
    void entry.started.then((running) => running?.stop()).catch((error: unknown) => this.logger.warn({ agentId, err: error }, 'agent stop failed'));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'killed'>((resolve) => { timer = setTimeout(() => resolve('killed'), graceMs); });
    try {
      if ((await Promise.race([entry.ended.then(() => 'ended' as const), grace])) === 'killed') {
        // Nothing can kill code running in this process: report what a process spawner would, and let it go.
        this.logger.warn({ agentId, domain, graceMs }, 'agent did not stop within the grace; reported as killed, though it may still be running in this process');
        this.finish(entry, null, 'SIGKILL');
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reports an agent's end once: a late end of an agent already reported killed is dropped. */
  private finish(entry: Running, code: number | null, signal: string | null): void {
    const { agentId, domain } = entry.agent;
    if (this.running.get(agentId) !== entry) return;
    this.running.delete(agentId);
    const exit: AgentExit = { agentId, domain, code, signal };
    this.logger.info({ ...exit }, 'agent in process ended');
    for (const listener of this.listeners) {
      try {
        listener(exit);
      } catch (error) {
        this.logger.error({ err: error, agentId }, 'exit listener failed');
      }
    }
  }
}

/** A pino destination that hands each written line to `record`, as a spawner reads a child's stderr. */
function lineDestination(record: (line: string) => void): pino.DestinationStream {
  return {
    write: (text: string) => {
      for (const line of text.split('\n')) if (line !== '') record(line);
    },
  };
}

/** The line `dist/src/agent.js` writes to stderr when it fails, so error messages read the same either way. */
function failureLine(error: unknown, env: Record<string, string>): string {
  return `dan agent: ${redactText(error instanceof Error ? error.message : String(error), knownSecrets(env))}`;
}
