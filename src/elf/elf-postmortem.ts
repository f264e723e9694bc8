import { z } from 'zod';
import { askModelJson } from '../../lib/agents/model-json.js';
import type { ElfMemory } from '../../lib/elf/elf-memory.js';
import type { ElfStores } from '../../lib/elf/elf-stores.js';
import { attributedLlmClient, type LlmClient } from '../../lib/llm/llm-client.js';
import { FailureCode } from '../../lib/protocol/failure.js';
import type { Task } from '../../lib/protocol/task.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import type { TaskContext } from '../../lib/runtime/task-consumer.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import type { AnswerModel } from './elf-answer.js';
import type { FailedTask } from './elf-outcomes.js';

/** The marker the local model server's default rules answer postmortems by. */
export const POSTMORTEM_MARKER = 'dan-postmortem';
/** The worker name a postmortem's model call is counted under (`output.cost.by_worker`). */
export const POSTMORTEM_WORKER = 'postmortem';
// The failed task's description and error as the postmortem task carries them: enough to explain it.
const MAX_FIELD_CHARS = 4_000;

const answerSchema = z.object({
  analysis: z.string().trim().min(1),
  rules: z.array(z.string().trim().min(1).max(500)).max(3),
});

const postmortemSchema = z.object({
  task_id: z.string().min(1), domain: z.string().min(1), description: z.string(), error: z.string().min(1),
});

const system = `${POSTMORTEM_MARKER}
You review a task of a network of coding agents that failed. Say in one or two sentences why it
failed, and propose at most three lessons that would keep later tasks of the same domain from failing
the same way: each one sentence, general enough to apply again, not a restatement of this task.
Answer with only a JSON object: {"analysis": "...", "rules": ["...", "..."]}.`;

/**
 * A postmortem of a failed task: the model explains the failure and proposes lessons, which are
 * recorded as candidate heuristics (source `postmortem`, starting confidence) for the domain, which a
 * person approves before any prompt sees them. Returns the ids and the analysis,
 * or the reason nothing was recorded (a model answer that is not the JSON asked for).
 */
export async function runPostmortem(
  input: { client: LlmClient; model: string; memory: ElfMemory; taskId: string; domain: string; description: string; error: string; signal?: AbortSignal },
): Promise<{ ok: true; heuristicIds: number[]; analysis: string } | { ok: false; problem: string }> {
  const answer = await askModelJson(input.client, {
    model: input.model,
    max_tokens: 1024,
    system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: `Task: ${input.description || input.taskId}\nDomain: ${input.domain}\nError: ${input.error}` }],
  }, answerSchema, input.signal);
  if (!answer.ok) return answer;
  const recorded = input.memory.recordPostmortem({
    taskId: input.taskId, domain: input.domain, error: input.error, analysis: answer.value.analysis, proposedRules: answer.value.rules,
  });
  return { ok: true, heuristicIds: recorded.heuristicIds, analysis: answer.value.analysis };
}

/**
 * The task a postmortem runs as: one of the memory's own domain, for the failed task's client. So its
 * model call goes the way every worker's does (priced to it by the model gateway, held to its client's
 * budget of the day), and its result carries what it cost.
 */
export function postmortemTask(failed: FailedTask, memoryDomain: string): SubmitInput {
  return {
    domain: memoryDomain, source: 'elf', type: 'postmortem',
    description: `Postmortem of failed task ${failed.taskId} (${failed.domain})`,
    context: { postmortem: { task_id: failed.taskId, domain: failed.domain, description: failed.description.slice(0, MAX_FIELD_CHARS), error: failed.error.slice(0, MAX_FIELD_CHARS) } },
    extraMetadata: { client_id: failed.clientId },
  };
}

/** The failed task a task of the memory's domain asks a postmortem of; undefined for a question to memory. */
export function postmortemOf(task: Task): Omit<FailedTask, 'clientId'> | undefined {
  if (task.type !== 'postmortem') return undefined;
  const parsed = postmortemSchema.safeParse(task.context['postmortem']);
  if (!parsed.success) throw new TaskFailedError('a postmortem task needs context.postmortem with task_id, domain, description and error: ELF sends these itself; send questions to memory without type postmortem', {}, FailureCode.invalidTask);
  const p = parsed.data;
  return { taskId: p.task_id, domain: p.domain, description: p.description, error: p.error };
}

/** Runs a postmortem task: its model call named for the task, the lessons recorded in its client's memory. */
export async function runPostmortemTask(ctx: TaskContext, failed: Omit<FailedTask, 'clientId'>, stores: ElfStores, model: AnswerModel): Promise<Record<string, unknown>> {
  const clientId = typeof ctx.task.metadata['client_id'] === 'string' ? ctx.task.metadata['client_id'] : 'default';
  const client = attributedLlmClient(await model.client(), { taskId: ctx.task.taskId, worker: POSTMORTEM_WORKER });
  const done = await runPostmortem({ client, model: model.model, memory: stores.get(clientId), ...failed, signal: ctx.signal });
  const base = { postmortem_of: failed.taskId, domain: failed.domain, files_created: [], files_modified: [] };
  // Failed, so a call the gateway refused for a budget ends it budget_exceeded, as a worker's would.
  if (!done.ok) throw new TaskFailedError(`the postmortem of ${failed.taskId} gave nothing usable: ${done.problem}`, { ...base, heuristic_ids: [] }, FailureCode.workerFailed);
  await ctx.log(`postmortem of ${failed.taskId}: ${done.heuristicIds.length} candidate lesson(s) for ${failed.domain}`);
  return { ...base, summary: done.analysis, heuristic_ids: done.heuristicIds };
}
