import type { AgentCatalog, DomainDefinition, WorkerDefinition } from '../../lib/agents/agent-definitions.js';
import { oneLine, toFailure } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { FailureCode } from '../../lib/protocol/failure.js';
import type { TokenUsage } from '../../lib/protocol/result.js';
import { addUsage, emptyUsage } from '../../lib/protocol/result.js';
import type { Task } from '../../lib/protocol/task.js';
import { timedCallMessage, type ModelCallTiming } from '../../lib/protocol/timed-call.js';
import type { TaskHandler } from '../../lib/runtime/task-consumer.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import type { WorkerSelection } from './worker-selection.js';
import type { PriorWork, WorkerResult, WorkerRuntime } from '../worker/worker-runtime.js';
import type { DomainMemory } from './domain-memory.js';
import type { BranchTaskContext } from './task-branch-step.js';

export interface WorkerLifecycle {
  /** Registers a worker in the registry (role worker) and adds it to the heartbeat. */
  started(workerAgentId: string, worker: WorkerDefinition, task: Task): Promise<void>;
  finished(workerAgentId: string): Promise<void>;
}

export interface DomainHandlerDeps {
  domain: DomainDefinition;
  catalog: AgentCatalog;
  agentId: string;
  runtime: () => Promise<WorkerRuntime>;
  /** Picks the workers; `onModelCall` hears how a model call it made went (the llm selector's): its duration, its error when it failed. */
  select: (task: Task, signal: AbortSignal, onModelCall: (call: ModelCallTiming) => void) => Promise<WorkerSelection>;
  lifecycle: WorkerLifecycle;
  logger: Logger;
  /** The network's memory (ELF), when it is on. */
  memory?: DomainMemory;
}

interface WorkerRecord {
  status: 'completed' | 'failed' | 'skipped';
  summary: string;
  error?: string;
  files_created: string[];
  files_modified: string[];
  notes?: string;
  turns?: number;
  model?: string;
  usage?: TokenUsage;
}

/**
 * A domain orchestrator's work on one task: `echo` answers at once; anything else picks workers and
 * runs them wave by wave (workers of one wave in parallel, each wave seeing what the earlier did),
 * then reports what every worker did and the union of the files they wrote.
 */
export function createDomainHandler(deps: DomainHandlerDeps): TaskHandler {
  let workerSeq = 0;
  return async (ctx: BranchTaskContext) => {
    const { task } = ctx;
    if (task.type === 'echo') {
      return { summary: 'echo', echo: task.payload, files_created: [], files_modified: [] };
    }
    let selecting: ModelCallTiming | undefined;
    const selection = await deps.select(task, ctx.signal, (call) => { selecting = call; });
    await ctx.log(`workers: ${selection.waves.map((w) => w.map((x) => x.name).join(' + ')).join(' -> ')} (${selection.reason})`);
    // The selector's model call, for the job's timeline, as the workers' calls are logged.
    if (selecting !== undefined) void ctx.log(timedCallMessage(deps.agentId, { kind: 'model_call', turn: 1, ...selecting }));
    const runtime = await deps.runtime();
    const records: Record<string, WorkerRecord> = {};
    const prior: PriorWork[] = [];
    const usage = emptyUsage();
    const readFiles: string[] = [];
    let failure: string | undefined;
    // The code of the failure that stopped the task, and whether it may pass (a rate-limited model API, a crashed worker).
    let code: FailureCode = FailureCode.workerFailed;
    let retryable = false;

    for (const wave of selection.waves) {
      if (failure) {
        for (const w of wave) records[w.name] = { status: 'skipped', summary: '', error: `not started: ${failure}`, files_created: [], files_modified: [] };
        continue;
      }
      const waveResults = await Promise.all(wave.map(async (worker) => {
        const workerAgentId = `${deps.agentId}-${worker.name}-${++workerSeq}`;
        await deps.lifecycle.started(workerAgentId, worker, task);
        await ctx.log(`${workerAgentId} started (${worker.description})`);
        try {
          const memory = deps.memory ? await deps.memory.context(task, worker) : undefined;
          if (memory) await ctx.log(`${workerAgentId}: ${memory.note}`);
          const result: WorkerResult = await runtime.run({
            worker, domain: deps.domain, task, agentId: workerAgentId, prior: [...prior], signal: ctx.signal,
            ...(ctx.workspace ? { workspace: ctx.workspace, readOnly: ctx.readOnly ?? [] } : {}),
            progress: (message) => void ctx.log(`${workerAgentId}: ${message}`),
            onTimed: (call) => void ctx.log(timedCallMessage(workerAgentId, call)),
            ...(memory?.text ? { memory: memory.text } : {}),
            ...(deps.memory ? { recordHeuristic: deps.memory.recorder(task, worker.name), contradictHeuristic: deps.memory.contradictor(task, worker.name) } : {}),
          });
          await ctx.log(`${workerAgentId} done in ${result.turns} turn(s): ${oneLine(result.summary)}`);
          return { worker, result };
        } catch (error) {
          const failure = toFailure(error);
          await ctx.log(`${workerAgentId} failed: ${failure.message}${failure.retryable ? ' (may pass on a retry)' : ''}`);
          return { worker, error: failure.message, retryable: failure.retryable, code: workerFailureCode(failure.code) };
        } finally {
          await deps.lifecycle.finished(workerAgentId);
        }
      }));
      for (const r of waveResults) {
        if ('result' in r && r.result) {
          const res = r.result;
          addUsage(usage, res.usage);
          readFiles.push(...(res.files_read ?? []));
          records[r.worker.name] = {
            status: 'completed', summary: res.summary, files_created: res.files_created, files_modified: res.files_modified,
            ...(res.notes ? { notes: res.notes } : {}), turns: res.turns, model: res.model, usage: res.usage,
          };
          prior.push({ worker: r.worker.name, summary: res.summary, files_created: res.files_created, files_modified: res.files_modified });
        } else {
          const error = 'error' in r ? r.error : 'unknown error';
          records[r.worker.name] = { status: 'failed', summary: '', error, files_created: [], files_modified: [] };
          if (failure === undefined) {
            failure = `worker ${r.worker.name} failed: ${error}`;
            retryable = 'retryable' in r && r.retryable === true;
            if ('code' in r && r.code) code = r.code;
          }
        }
      }
    }

    const created = [...new Set(Object.values(records).flatMap((r) => r.files_created))].sort();
    const modified = [...new Set(Object.values(records).flatMap((r) => r.files_modified))].filter((f) => !created.includes(f)).sort();
    const read = [...new Set(readFiles)].filter((f) => !created.includes(f) && !modified.includes(f)).sort();
    const output = {
      summary: prior.map((p) => `${p.worker}: ${p.summary}`).join(' ') || (failure ?? 'no worker ran'),
      workers_used: Object.keys(records).filter((name) => records[name]?.status !== 'skipped'),
      files_created: created,
      files_modified: modified,
      files_read: read,
      workers: records,
      usage,
      selection: { strategy: selection.strategy, reason: selection.reason },
    };
    if (failure) throw new TaskFailedError(failure, output, code, { retryable });
    return output;
  };
}

/**
 * The code a task fails with when a worker failed: the worker's own when it says more than "internal"
 * (the model API's codes, a crash, an unusable answer), else `worker_failed`.
 */
export function workerFailureCode(code: FailureCode): FailureCode {
  return code === FailureCode.internal ? FailureCode.workerFailed : code;
}
