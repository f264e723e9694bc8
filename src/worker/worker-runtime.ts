import type { DomainDefinition, WorkerDefinition } from '../../lib/agents/agent-definitions.js';
import type { TokenUsage } from '../../lib/protocol/result.js';
import type { TimedCall } from '../../lib/protocol/timed-call.js';
import type { ContradictHeuristic } from '../../lib/llm/tools/elf-contradict-heuristic-tool.js';
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
  /** Claims a shown lesson did not hold; present with `recordHeuristic` (the worker gets `elf_contradict_heuristic`). */
  contradictHeuristic?: ContradictHeuristic;
  /** The folder to work in instead of the task's workspace (a farm agent's or a task's git worktree). */
  workspace?: string;
  /** Folders the worker's commands may read but not change besides its workspace (a worktree's repository, for git). */
  readOnly?: readonly string[];
  /** The first message, instead of the one built from the task. */
  prompt?: string;
  /** Every file write goes through it; while it is set the worker has no shell (writes it could not see). */
  editGuard?: EditGuard;
  /** Everything the worker does, as it happens: what a farm's health checks and views follow. */
  onEvent?: (event: WorkerEvent) => void;
  /** Each model call and tool call once it ended, with how long it took: the task's timeline. */
  onTimed?: (call: TimedCall) => void;
  /** The worker's own process, once started (Claude Code CLI only). */
  onSpawn?: (pid: number) => void;
}

/**
 * A check before and after every file write. In process (SDK runtime) `check` runs; the Claude Code
 * CLI runs `hook` as a PreToolUse/PostToolUse hook that makes the same check and exits 2 to refuse.
 */
export interface EditGuard {
  /** Resolves to the reason to refuse, or undefined to allow. `file` is absolute. */
  check(file: string, phase: 'before' | 'after' | 'read'): Promise<string | undefined>;
  hook: { command: string; env: Record<string, string> };
}

/** One thing a worker did: a tool call, a text, a turn's token use (with its context size). */
export interface WorkerEvent {
  kind: 'tool' | 'text' | 'turn' | 'refused';
  summary: string;
  usage?: Partial<TokenUsage>;
  /** Tokens the model saw in this turn (input, cache reads and writes): the context's size. */
  contextTokens?: number;
}

/** Token counts of one model call as the API reports them (absent or null counts are zero). */
export interface CallUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** One model call as a worker event: its usage, and the context's size (everything the model read). */
export function turnEvent(u: CallUsage): WorkerEvent {
  const usage = {
    input_tokens: u.input_tokens ?? 0, output_tokens: u.output_tokens ?? 0,
    cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0, cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
  };
  const context = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;
  return { kind: 'turn', summary: `turn: ${context} context tokens`, usage, contextTokens: context };
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
