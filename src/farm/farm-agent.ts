import type { DomainDefinition, WorkerDefinition } from '../../lib/agents/agent-definitions.js';
import { sleep } from '../../lib/clock.js';
import { oneLine, toFailure } from '../../lib/errors.js';
import type { Chunk } from '../../lib/farm/chunks.js';
import { commitAll } from '../../lib/farm/farm-git.js';
import type { HealthPolicy, RunEnd } from '../../lib/farm/farm-health.js';
import { isStuck, nextStep } from '../../lib/farm/farm-health.js';
import type { FarmStore } from '../../lib/farm/farm-store.js';
import type { Problem } from '../../lib/farm/problems.js';
import type { ContradictHeuristic } from '../../lib/llm/tools/elf-contradict-heuristic-tool.js';
import type { RecordHeuristic } from '../../lib/llm/tools/elf-record-heuristic-tool.js';
import { runProblemsCommand, unknownCountReason, type ProblemsCommandPlace } from '../../lib/farm/problems-command.js';
import type { Logger } from '../../lib/logger.js';
import type { Task } from '../../lib/protocol/task.js';
import { commandSandbox } from '../../lib/sandbox/resolve-sandbox.js';
import type { EditGuard, WorkerEvent, WorkerRuntime } from '../worker/worker-runtime.js';
import { chunkPrompt } from './farm-prompt.js';

export interface FarmAgentOptions {
  /** The agent's name in the farm (lock owner, status rows): `agent-1`, ... */
  name: string;
  farmId: string;
  store: FarmStore;
  worktree: string;
  branch: string;
  runtime: WorkerRuntime;
  task: Task;
  domain: DomainDefinition;
  worker: WorkerDefinition;
  guard: EditGuard;
  policy: HealthPolicy;
  leaseMs: number;
  lockMs: number;
  chunkCount: number;
  problemsCommand: string | undefined;
  problemsTimeoutMs: number;
  /** Where the problems command runs; absent: this process's `DAN_SANDBOX=auto` sandbox, the worktree only. */
  problemsPlace?: ProblemsCommandPlace;
  /** Handed back this many times, a chunk is given up. */
  maxChunkAttempts: number;
  memory: string | undefined;
  /** Present when ELF is on: the agent gets `elf_record_heuristic` to write down a lesson mid-task, as a worker does. */
  recordHeuristic?: RecordHeuristic;
  /** With `recordHeuristic`: `elf_contradict_heuristic`, for a lesson of the memory block that did not hold. */
  contradictHeuristic?: ContradictHeuristic;
  /** Fires when the farm stops (dan farm stop, cancel, timeout, its budget spent). */
  signal: AbortSignal;
  /**
   * Asked when a run ended in an error: resolves true when the farm's budget is spent (the model
   * gateway refused a call for it), having stopped the farm, so no agent restarts into a refusal.
   */
  stopIfBudgetSpent?: () => Promise<boolean>;
  log(message: string): Promise<void>;
  logger: Logger;
}

/** What one agent did, for the farm's report. */
export interface AgentReport {
  name: string;
  branch: string;
  chunks_done: string[];
  chunks_given_back: string[];
  files_changed: string[];
  restarts: number;
  renewals: number;
  tokens_in: number;
  tokens_out: number;
}

// How long an agent waits before looking at the queue again while other agents hold the files it needs.
const WAIT_FOR_LOCKS_MS = 500;

/**
 * One agent of a farm: takes chunks off the farm's queue until none is left, runs the worker
 * runtime on each in its own worktree, watches it (stuck, crashed, context full), restarts it with
 * backoff up to the cap, then hands the chunk back; commits each finished chunk to its branch.
 */
export class FarmAgent {
  readonly report: AgentReport;
  private lastEventAt = Date.now();
  private writing: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: FarmAgentOptions) {
    this.report = { name: o.name, branch: o.branch, chunks_done: [], chunks_given_back: [], files_changed: [], restarts: 0, renewals: 0, tokens_in: 0, tokens_out: 0 };
  }

  async run(): Promise<AgentReport> {
    const { store, name } = this.o;
    await store.setAgent(name, { name, status: 'idle', branch: this.o.branch, worktree: this.o.worktree, restarts: 0, tokens_in: 0, tokens_out: 0, chunk: '' });
    try {
      while (!this.o.signal.aborted) {
        const claim = await store.claim(name, this.o.leaseMs, this.o.lockMs);
        if (claim.kind === 'chunk') {
          if ((await this.work(claim.chunk)) === 'stopped') break;
          continue;
        }
        const { queued, leased } = await store.pendingCount();
        // Nothing left, or only chunks this agent handed back itself (they are for the others).
        if (leased === 0 && queued <= claim.excluded) break;
        // Queued chunks whose files others hold, or chunks others may still hand back: look again soon.
        if (claim.blocked > 0) await store.setAgent(name, { status: 'waiting', waiting_for: `${claim.blocked} chunk(s) with locked files` });
        await sleep(WAIT_FOR_LOCKS_MS, this.o.signal);
      }
    } finally {
      await this.writing;
      await store.setAgent(name, { status: this.o.signal.aborted ? 'stopped' : 'finished', chunk: '', waiting_for: '' });
    }
    return this.report;
  }

  /** One chunk, with restarts and renewals, to done, handed back, or stopped. */
  private async work(chunk: Chunk): Promise<'done' | 'given_back' | 'stopped'> {
    const { store, name, policy } = this.o;
    await store.setAgent(name, { status: 'working', chunk: chunk.id, chunk_files: chunk.files.join(' '), waiting_for: '' });
    await this.o.log(`${name} took chunk ${chunk.id}: ${chunk.files.join(', ') || chunk.part || '(a part of the task)'}`);
    const keepAlive = setInterval(() => void store.renew(name, this.o.lockMs, chunk.id, this.o.leaseMs).catch(() => undefined), Math.max(100, Math.floor(Math.min(this.o.lockMs, this.o.leaseMs) / 3)));
    let restarts = 0;
    let renewals = 0;
    let problems: readonly Problem[] = chunk.problems;
    try {
      for (;;) {
        const end = await this.runOnce(chunk, problems, renewals > 0);
        const step = nextStep(end, restarts, renewals, policy);
        if (step.kind === 'done') break;
        if (step.kind === 'stop') {
          await store.releaseLocks(name);
          await store.giveBack(chunk.id, 'the farm stopped');
          return 'stopped';
        }
        if (step.kind === 'renew') {
          renewals++;
          this.report.renewals++;
          problems = await this.rest(chunk);
          await this.line(`context nearly full: renewing with a fresh session and ${problems.length} problem(s) left`);
          await store.incrAgent(name, 'renewals', 1);
          continue;
        }
        if (step.kind === 'restart') {
          restarts++;
          this.report.restarts++;
          await store.incrAgent(name, 'restarts', 1);
          await store.event({ type: 'restart', agent: name, chunk: chunk.id, reason: end, delay_ms: String(step.delayMs) });
          await this.line(`${end}: restart ${restarts} of ${policy.maxRestarts} in ${step.delayMs} ms`);
          await this.o.log(`${name} ${end} on chunk ${chunk.id}; restart ${restarts} of ${policy.maxRestarts} in ${step.delayMs} ms`);
          await store.setAgent(name, { status: 'restarting' });
          await sleep(step.delayMs, this.o.signal);
          continue;
        }
        // Given back: the chunk goes to another agent, unless it was handed back too often already.
        await store.releaseLocks(name);
        const attempts = await store.giveBack(chunk.id, step.reason, name);
        this.report.chunks_given_back.push(chunk.id);
        if (attempts >= this.o.maxChunkAttempts && (await store.dropQueued(chunk.id))) {
          await store.endChunk(chunk.id, { status: 'given_up', agent: name, error: step.reason });
          await this.o.log(`${name} gave up chunk ${chunk.id} (${step.reason}); handed back ${attempts} time(s), so no agent takes it again`);
        } else {
          await this.o.log(`${name} handed chunk ${chunk.id} back (${step.reason}) for another agent`);
        }
        await store.event({ type: 'give_back', agent: name, chunk: chunk.id, reason: step.reason });
        return 'given_back';
      }
      const changed = await commitAll(this.o.worktree, `farm ${this.o.farmId}: chunk ${chunk.id} by ${name}`);
      this.report.chunks_done.push(chunk.id);
      this.report.files_changed = [...new Set([...this.report.files_changed, ...changed])].sort();
      await store.endChunk(chunk.id, { status: 'done', agent: name, files_changed: JSON.stringify(changed), restarts, renewals });
      await store.releaseLocks(name);
      await store.event({ type: 'chunk_done', agent: name, chunk: chunk.id });
      await store.incrAgent(name, 'chunks_done', 1);
      await this.o.log(`${name} finished chunk ${chunk.id}: ${changed.length ? `changed ${changed.join(', ')}` : 'no change'}`);
      return 'done';
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** One session of the runtime on the chunk; says how it ended. */
  private async runOnce(chunk: Chunk, problems: readonly Problem[], renewal: boolean): Promise<RunEnd> {
    const { store, name, policy } = this.o;
    const controller = new AbortController();
    let reason: RunEnd | undefined;
    const stopAll = () => { reason ??= 'stopped'; controller.abort(); };
    this.o.signal.addEventListener('abort', stopAll, { once: true });
    this.lastEventAt = Date.now();
    const watchdog = setInterval(() => {
      if (isStuck(this.lastEventAt, Date.now(), policy.stuckMs)) { reason ??= 'stuck'; controller.abort(); }
    }, Math.max(50, Math.min(1_000, Math.floor(policy.stuckMs / 4))));
    let sawTurns = false;
    await store.setAgent(name, { status: 'working', pid: '' });
    try {
      const result = await this.o.runtime.run({
        worker: this.o.worker, domain: this.o.domain, task: this.o.task, agentId: name, prior: [], signal: controller.signal,
        workspace: this.o.worktree, editGuard: this.o.guard,
        ...(this.o.recordHeuristic ? { recordHeuristic: this.o.recordHeuristic } : {}),
        ...(this.o.contradictHeuristic ? { contradictHeuristic: this.o.contradictHeuristic } : {}),
        prompt: chunkPrompt({
          task: this.o.task.description, agent: name, farmId: this.o.farmId, worktree: this.o.worktree, chunk, chunkCount: this.o.chunkCount,
          problems, problemsCommand: this.o.problemsCommand, memory: this.o.memory, renewal,
        }),
        progress: () => undefined,
        onSpawn: (pid) => void this.write(() => store.setAgent(name, { pid })),
        onEvent: (event) => {
          this.lastEventAt = Date.now();
          if (event.kind === 'turn') {
            sawTurns = true;
            this.addTokens(event);
            if ((event.contextTokens ?? 0) >= policy.contextTokens) { reason ??= 'context_full'; controller.abort(); }
            return;
          }
          void this.line(event.kind === 'refused' ? `refused: ${event.summary}` : event.summary);
        },
      });
      if (!sawTurns) this.addTokens({ kind: 'turn', summary: '', usage: result.usage });
      await this.line(`done: ${oneLine(result.summary)}`);
      return 'finished';
    } catch (error) {
      // A spent budget stops the farm (and `signal`, which sets `reason`): a restart would be refused too.
      if (!reason) await this.o.stopIfBudgetSpent?.();
      const end: RunEnd = reason ?? 'crashed';
      await this.line(`${end}: ${toFailure(error).message}`);
      return end;
    } finally {
      clearInterval(watchdog);
      this.o.signal.removeEventListener('abort', stopAll);
      await this.writing;
    }
  }

  /** What is left of a chunk: the problems command again, in this worktree, on the chunk's files. */
  private async rest(chunk: Chunk): Promise<Problem[]> {
    if (!this.o.problemsCommand) return chunk.problems;
    const run = await runProblemsCommand(this.o.problemsCommand, this.o.worktree, this.o.problemsTimeoutMs, this.o.problemsPlace ?? { sandbox: commandSandbox('auto', this.o.logger) }, this.o.signal);
    // A run that could not check anything leaves the chunk's problems as they were, not none.
    if (unknownCountReason(run)) return chunk.problems;
    const files = new Set(chunk.files);
    return run.problems.filter((p) => files.has(p.file));
  }

  private addTokens(event: WorkerEvent): void {
    const u = event.usage ?? {};
    const input = (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
    const output = u.output_tokens ?? 0;
    this.report.tokens_in += input;
    this.report.tokens_out += output;
    void this.write(async () => {
      await this.o.store.incrAgent(this.o.name, 'tokens_in', input);
      await this.o.store.incrAgent(this.o.name, 'tokens_out', output);
    });
  }

  private line(text: string): Promise<void> {
    return this.write(() => this.o.store.agentLine(this.o.name, text));
  }

  /** Redis writes of one agent happen in order, and a failed one never stops the agent. */
  private write(action: () => Promise<unknown>): Promise<void> {
    const next = this.writing.then(action).catch((error: Error) => this.o.logger.warn({ agentId: this.o.name, err: error.message }, 'farm state write failed'));
    this.writing = next;
    return next.then(() => undefined);
  }
}
