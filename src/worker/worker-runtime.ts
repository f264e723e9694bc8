import type { DomainDefinition, WorkerDefinition } from '../../lib/agents/agent-definitions.js';
import type { TokenUsage } from '../../lib/protocol/result.js';
import type { RecordHeuristic } from '../../lib/llm/tools/elf-record-heuristic-tool.js';
import type { Task } from '../../lib/protocol/task.js';

/** What an earlier worker of the same task did, handed to the workers after it. */
export interface PriorWork {
  worker: string;
  summary: string;
  files_created: string[];
  files_modified: string[];
}

export interface WorkerJob {
  worker: WorkerDefinition;
  domain: DomainDefinition;
  task: Task;
  /** Agent id the worker is registered under (role `worker`). */
  agentId: string;
  prior: PriorWork[];
  signal: AbortSignal;
  /** Progress for the task's log: one line per model turn and tool call. */
  progress: (message: string) => void;
  /** What the network's memory (ELF) gave for this task and worker, put into the first message. */
  memory?: string;
  /** Stores a lesson in the memory; present when ELF is on (the worker gets `elf_record_heuristic`). */
  recordHeuristic?: RecordHeuristic;
}

/** What a worker did. File lists come from what its tools actually wrote, not from its own claims. */
export interface WorkerResult {
  summary: string;
  files_created: string[];
  files_modified: string[];
  /** Files read and not written (for the memory's trails); absent when the runtime cannot tell. */
  files_read?: string[];
  notes?: string;
  usage: TokenUsage;
  turns: number;
  model: string;
}

/**
 * Runs one worker on one task. Implementations: `SdkWorkerRuntime` (the Anthropic SDK with our
 * tools) and `ClaudeCodeWorkerRuntime` (the Claude Code CLI, headless), chosen by DAN_WORKER_RUNTIME.
 */
export interface WorkerRuntime {
  readonly name: string;
  run(job: WorkerJob): Promise<WorkerResult>;
}
