import type { Config } from '../../lib/config.js';
import { resolveModel } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { runToolLoopWithAnswer, workerAnswerSchema } from '../../lib/llm/final-answer.js';
import { attributedLlmClient, type LlmClient } from '../../lib/llm/llm-client.js';
import { createTools } from '../../lib/llm/tools/create-tools.js';
import { FileTracker } from '../../lib/workspace/file-tracker.js';
import { WorkspaceJail } from '../../lib/workspace/workspace-jail.js';
import { taskWorkspace } from '../../lib/workspace/task-workspace.js';
import { createElfContradictHeuristicTool } from '../../lib/llm/tools/elf-contradict-heuristic-tool.js';
import { createElfRecordHeuristicTool } from '../../lib/llm/tools/elf-record-heuristic-tool.js';
import { workerPrompt, workerSystemPrompt } from './worker-prompt.js';
import type { EditGuard, WorkerJob, WorkerResult, WorkerRuntime } from './worker-runtime.js';
import { turnEvent } from './worker-runtime.js';
import type { WorkerTool } from '../../lib/llm/tools/worker-tool.js';
import { ToolError } from '../../lib/llm/tools/tool-error.js';
import type { CommandSandbox } from '../../lib/sandbox/command-sandbox.js';
import { commandSandbox } from '../../lib/sandbox/resolve-sandbox.js';

export interface SdkWorkerRuntimeOptions {
  llm: LlmClient;
  config: Pick<Config, 'llm' | 'workspace' | 'workspaceRoots' | 'bashTimeoutMs' | 'sandbox'>;
  logger: Logger;
}

// 30 KiB: enough for a screenful of build output, small next to a model's context.
const MAX_TOOL_OUTPUT_BYTES = 30 * 1024;

/** With an edit guard: no shell (its writes could not be checked), and Write and Edit ask the guard before and after. */
function guardTools(tools: WorkerTool[], guard: EditGuard | undefined): WorkerTool[] {
  if (!guard) return tools;
  return tools.filter((tool) => tool.definition.name !== 'Bash').map((tool) => {
    if (tool.definition.name !== 'Write' && tool.definition.name !== 'Edit') return tool;
    return {
      definition: tool.definition,
      async run(input, ctx) {
        const target = (input as { file_path?: unknown } | undefined)?.file_path;
        const file = typeof target === 'string' ? ctx.jail.resolve(target) : undefined;
        const refusal = file ? await guard.check(file, 'before') : undefined;
        if (refusal) throw new ToolError(refusal);
        const result = await tool.run(input, ctx);
        if (file) await guard.check(file, 'after');
        return result;
      },
    };
  });
}

/**
 * A worker on the Anthropic SDK: the worker's definition as the (cached) system prompt, our file and
 * command tools confined to the task's workspace, a turn limit, and a final JSON answer checked with
 * zod (one repair round). The file lists it reports are the ones its tools recorded.
 */
export class SdkWorkerRuntime implements WorkerRuntime {
  readonly name = 'sdk';

  /** Decided (and logged) when the runtime is made, so a domain says at start how its commands are confined. */
  private readonly sandbox: CommandSandbox;

  constructor(private readonly options: SdkWorkerRuntimeOptions) {
    this.sandbox = commandSandbox(options.config.sandbox, options.logger);
  }

  async run(job: WorkerJob): Promise<WorkerResult> {
    const { config, llm, logger } = this.options;
    const jail = job.workspace ? new WorkspaceJail(job.workspace) : taskWorkspace(config.workspace, job.task, config.workspaceRoots);
    const tracker = new FileTracker();
    const model = resolveModel(config, job.worker.model);
    const result = await runToolLoopWithAnswer({
      client: attributedLlmClient(llm, { taskId: job.task.taskId, worker: job.worker.name }),
      model,
      system: workerSystemPrompt(job.domain, job.worker, jail.root),
      prompt: job.prompt ?? workerPrompt(job.task, job.prior, job.memory),
      tools: guardTools([
        ...createTools(job.worker.tools),
        ...(job.recordHeuristic ? [createElfRecordHeuristicTool(job.recordHeuristic)] : []),
        ...(job.contradictHeuristic ? [createElfContradictHeuristicTool(job.contradictHeuristic)] : []),
      ], job.editGuard),
      maxTurns: config.llm.maxTurns,
      maxTokens: config.llm.maxTokens,
      signal: job.signal,
      toolContext: { jail, tracker, bashTimeoutMs: config.bashTimeoutMs, maxOutputBytes: MAX_TOOL_OUTPUT_BYTES, sandbox: this.sandbox, logger, ...(job.readOnly ? { readOnly: job.readOnly } : {}) },
      metadata: { user_id: job.agentId },
      onEvent: (event) => {
        if (event.type === 'tool_called') job.progress(`${event.tool} ${event.summary}`);
        else if (event.type === 'tool_result' && !event.ok) job.progress(`${event.tool} error: ${event.summary}`);
        if (event.type === 'tool_called') job.onEvent?.({ kind: 'tool', summary: `${event.tool} ${event.summary}` });
        else if (event.type === 'tool_result' && !event.ok) job.onEvent?.({ kind: 'refused', summary: `${event.tool}: ${event.summary}` });
        else if (event.type === 'turn_ended') job.onEvent?.(turnEvent(event.usage));
        if (event.type === 'turn_ended') job.onTimed?.({ kind: 'model_call', turn: event.turn, durationMs: event.ms });
        else if (event.type === 'turn_failed') job.onTimed?.({ kind: 'model_call', turn: event.turn, durationMs: event.ms, error: event.error });
        else if (event.type === 'tool_result') job.onTimed?.({ kind: 'tool_call', tool: event.tool, ok: event.ok, durationMs: event.ms });
      },
    }, workerAnswerSchema);
    logger.debug({ agentId: job.agentId, taskId: job.task.taskId, turns: result.turns, usage: result.usage }, 'worker finished');
    return {
      summary: result.answer.summary,
      files_created: tracker.created,
      files_modified: tracker.modified,
      files_read: tracker.read,
      ...(result.answer.notes ? { notes: result.answer.notes } : {}),
      usage: result.usage,
      turns: result.turns,
      model,
    };
  }
}
