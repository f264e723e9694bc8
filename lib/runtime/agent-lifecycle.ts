import { toFailure } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * How long stopping may take beyond the grace: the loops unwinding, the hand-back, the deregistration.
 * 15 s: a command to a Redis that went away fails after its retries (about 10 s at the 500 ms
 * reconnect cap), so a step that is still waiting after that will not end by itself.
 */
export const STOP_BOUND_MS = 15_000;

/** Where an agent is in its life; only ever moves forward. */
export type LifecycleState = 'starting' | 'running' | 'stopping' | 'stopped';

/** The queue an agent works: the TaskConsumer, or a fake in tests. */
export interface LifecycleConsumer {
  /** Resolves with why the consumer ended by itself: 'idle', or 'stopped' once `stop` was called. */
  start(): Promise<'idle' | 'stopped'>;
  /** Stops taking work, finishes or hands back what is in flight within `graceMs`; resolves with the ids it could not hand back. */
  stop(graceMs: number): Promise<string[]>;
}

/** One extra loop of a role (main's domain supervisor, ELF's event reader): runs until `signal` aborts. */
export interface AgentLoop {
  name: string;
  run(signal: AbortSignal): Promise<void>;
}

/** Everything one role brings to the lifecycle, built once its connections are open. */
export interface AgentParts {
  register(): Promise<void>;
  heartbeat: { start(): void; stop(): void };
  consumer: LifecycleConsumer;
  loops: readonly AgentLoop[];
  /** Runs after the loops ended and before the deregistration (closing a model client, say). */
  beforeDeregister?(): Promise<void>;
  deregister(): Promise<void>;
  /** False while Redis does not answer: the deregistration is then reported, not waited out. */
  reachable?(): boolean;
  /** Closes connections and stores; must not wait on Redis. */
  close(): void;
}

export interface AgentLifecycleOptions {
  agentId: string;
  logger: Logger;
  graceMs: number;
  /** Beyond the grace; STOP_BOUND_MS unless a test needs it shorter. */
  stopBoundMs?: number;
  /**
   * Opens the role's connections and builds its parts. `stop` is for the parts that end the agent
   * themselves (a heartbeat told the agent was deregistered). If it throws, it closes what it opened.
   */
  open(stop: () => Promise<void>): Promise<AgentParts>;
}

/** How an agent's life ended: by itself (idle) or told to; and what it could not hand back or undo. */
export interface LifecycleEnd {
  why: 'idle' | 'stopped';
  /** Empty after a clean stop; else one line per thing left behind, e.g. "could not deregister agent X: ...". */
  problems: string[];
}

const timedOut = Symbol('timed out');

/** Waits for `work` at most `ms`; `timedOut` when it did not end in time. */
async function within<T>(work: Promise<T>, ms: number): Promise<T | typeof timedOut> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof timedOut>((resolve) => { timer = setTimeout(() => resolve(timedOut), Math.max(0, ms)); });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One agent's life, the same for every role: open connections, register, heartbeat, run the consumer
 * and the role's loops; on stop (called, idle, or deregistered), stop taking work, finish or hand back
 * within the grace, stop the loops, stop heartbeating, deregister, close. Stopping always ends: every
 * step after the grace shares STOP_BOUND_MS, and a step that does not end in time (Redis gone) is
 * skipped and reported in `LifecycleEnd.problems` rather than waited for.
 */
export class AgentLifecycle {
  private current: LifecycleState = 'starting';
  private parts: AgentParts | undefined;
  private stopping: Promise<void> | undefined;
  private stopAsked = false;
  private readonly loopsAbort = new AbortController();
  private loopRuns: Promise<void>[] = [];
  private consuming: Promise<'idle' | 'stopped'> | undefined;
  private readonly problems: string[] = [];
  private endWhy: 'idle' | 'stopped' = 'stopped';
  private settle: (end: LifecycleEnd) => void = () => undefined;
  /** Settles once the agent has stopped, with what it could not hand back. Never rejects. */
  readonly done: Promise<LifecycleEnd>;

  constructor(private readonly options: AgentLifecycleOptions) {
    this.done = new Promise((resolve) => { this.settle = resolve; });
  }

  get state(): LifecycleState {
    return this.current;
  }

  get agentId(): string {
    return this.options.agentId;
  }

  /**
   * Opens, registers and starts everything; resolves once the agent is running. A failure to open or
   * register rejects (nothing is left open); a stop asked meanwhile runs as soon as the parts exist.
   */
  async start(): Promise<void> {
    const { logger } = this.options;
    let parts: AgentParts;
    try {
      parts = await this.options.open(() => this.stop());
    } catch (error) {
      this.fail();
      throw error;
    }
    this.parts = parts;
    try {
      await parts.register();
    } catch (error) {
      parts.close();
      this.fail();
      throw error;
    }
    parts.heartbeat.start();
    this.consuming = parts.consumer.start();
    this.loopRuns = parts.loops.map((loop) => loop.run(this.loopsAbort.signal).catch((error: unknown) => {
      // A loop that throws ends the agent: it would otherwise run without a part of its job.
      if (this.loopsAbort.signal.aborted) return;
      logger.error({ agentId: this.agentId, loop: loop.name, err: toFailure(error).message }, `the ${loop.name} loop failed; stopping the agent`);
      this.problems.push(`the ${loop.name} loop failed: ${toFailure(error).message}`);
      void this.stop();
    }));
    void this.consuming.then((why) => {
      if (why !== 'idle') return;
      this.endWhy = 'idle';
      void this.stop();
    }, (error: unknown) => {
      this.problems.push(`the task consumer failed: ${toFailure(error).message}`);
      void this.stop();
    });
    this.current = 'running';
    // Asked to stop while starting: now that every part runs, it can stop in order.
    if (this.stopAsked) void this.stop();
  }

  /** Stops the agent; every caller waits for the one shutdown. Asked while starting, it runs once started. */
  stop(): Promise<void> {
    this.stopAsked = true;
    if (this.current === 'starting' || !this.parts) return this.done.then(() => undefined);
    this.stopping ??= this.shutdown(this.parts);
    return this.stopping;
  }

  /** Opening or registering failed: nothing runs, and whoever waits for the end is released. */
  private fail(): void {
    this.current = 'stopped';
    this.settle({ why: 'stopped', problems: [] });
  }

  private async shutdown(parts: AgentParts): Promise<void> {
    const { logger, graceMs, agentId } = this.options;
    this.current = 'stopping';
    const deadline = Date.now() + graceMs + (this.options.stopBoundMs ?? STOP_BOUND_MS);
    const left = () => deadline - Date.now();
    const step = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
      try {
        const outcome = await within(work(), left());
        if (outcome !== timedOut) return outcome;
        this.problems.push(`could not ${what}: it did not finish in time (is Redis unreachable?)`);
      } catch (error) {
        this.problems.push(`could not ${what}: ${toFailure(error).message}`);
      }
      return undefined;
    };
    this.loopsAbort.abort();
    const notHandedBack = await step('hand back the tasks in flight', () => parts.consumer.stop(graceMs));
    if (notHandedBack && notHandedBack.length > 0) this.problems.push(`could not hand back task ${notHandedBack.join(', ')}: Redis unreachable`);
    await step('stop its loops', async () => {
      await Promise.all([this.consuming, ...this.loopRuns]);
    });
    if (parts.beforeDeregister) await step('release its resources', () => parts.beforeDeregister!());
    parts.heartbeat.stop();
    if (parts.reachable?.() === false) this.problems.push(`could not deregister agent ${agentId}: Redis unreachable`);
    else await step(`deregister agent ${agentId}`, () => parts.deregister());
    parts.close();
    this.current = 'stopped';
    if (this.problems.length > 0) logger.warn({ agentId, problems: this.problems }, 'stopped, leaving something behind');
    this.settle({ why: this.endWhy, problems: [...this.problems] });
  }
}

/**
 * The backstop of a process whose stopping hangs anyway (a part that ignores the bound): exit 1 once
 * the grace and STOP_BOUND_MS have passed. Armed by the process entry and `dan up` when they start
 * stopping; unref'd, so it never keeps a process alive that is done.
 */
export function exitIfStuck(logger: Logger, graceMs: number, exit: (code: number) => void = (code) => process.exit(code)): void {
  // 1 s after the lifecycle's own bound: a lifecycle that reports its problems gets to say them first.
  const waitedMs = graceMs + STOP_BOUND_MS + 1_000;
  setTimeout(() => {
    logger.error({ waitedMs }, 'stopping did not finish (is Redis gone?); exiting without handing back');
    logger.flush?.();
    exit(1);
  }, waitedMs).unref();
}

/** The line a process ends with when its lifecycle left something behind. */
export function stopProblemsMessage(end: LifecycleEnd): string {
  return `stopping did not finish (is Redis gone?); exiting without handing back: ${end.problems.join('; ')}`;
}
