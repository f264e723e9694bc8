import type { ElfStores } from '../../lib/elf/elf-stores.js';
import { toFailure } from '../../lib/errors.js';
import { attributedLlmClient, type LlmClient } from '../../lib/llm/llm-client.js';
import { responseText } from '../../lib/llm/types.js';
import type { TaskContext } from '../../lib/runtime/task-consumer.js';

/** The marker the local model server's default rules answer memory questions by. */
export const ELF_ANSWER_MARKER = 'dan-elf-answer';

/** A model to summarise what memory found; absent, the answer is the list itself. */
export interface AnswerModel {
  client: () => Promise<LlmClient>;
  model: string;
}

/**
 * A task sent to the `elf` domain is a question to the memory ("what do we know about auth
 * tokens?"): the answer lists the matching rules with their confidence and the past tasks that match,
 * failures with their errors.
 */
export async function answerQuestion(ctx: TaskContext, stores: ElfStores, model?: AnswerModel): Promise<Record<string, unknown>> {
  const { task } = ctx;
  const clientId = typeof task.metadata['client_id'] === 'string' ? task.metadata['client_id'] : 'default';
  const domain = typeof task.context['domain'] === 'string' ? task.context['domain'] : undefined;
  const memory = stores.get(clientId);
  const found = memory.search(task.description, { ...(domain ? { domain } : {}), limit: 10 });
  const rules = found.heuristics.map((h) => ({
    id: h.heuristic.id, domain: h.heuristic.domain, rule: h.heuristic.rule, confidence: Number(h.heuristic.confidence.toFixed(2)), golden: h.heuristic.golden,
  }));
  const tasks = found.outcomes.map((o) => ({
    task_id: o.outcome.taskId, domain: o.outcome.domain, status: o.outcome.status, description: o.outcome.description, ...(o.outcome.error ? { error: o.outcome.error } : {}),
  }));
  const lines = [
    ...rules.map((r) => `- ${r.golden ? '[golden] ' : ''}${r.rule} (${r.domain}, confidence ${r.confidence})`),
    ...tasks.filter((t) => t.status === 'failed').map((t) => `- failed before: ${t.description || t.task_id}: ${t.error ?? ''}`),
  ];
  await ctx.log(`memory of ${clientId}: ${rules.length} rule(s), ${tasks.length} past task(s) match`);
  const listing = lines.length > 0 ? `What the network knows about "${task.description}":\n${lines.join('\n')}` : `Nothing in memory matches "${task.description}" yet.`;
  if (!model || lines.length === 0) return { summary: listing, answered_by: 'memory', heuristics: rules, tasks, files_created: [], files_modified: [] };
  try {
    // Named for the task, so the model gateway prices the call to it as a worker's.
    const client = attributedLlmClient(await model.client(), { taskId: task.taskId, worker: 'memory' });
    const response = await client.createMessage({
      model: model.model,
      max_tokens: 1024,
      system: [{ type: 'text', text: `${ELF_ANSWER_MARKER}\nYou answer a team's question about what their network of coding agents has learned. Use only the memory given below the question; say how sure it is (the confidence of the rules), and say so when memory does not answer the question. A few sentences.`, cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: `Question: ${task.description}\n\nMemory:\n${lines.join('\n')}` }],
    }, { signal: ctx.signal });
    const text = responseText(response).trim();
    if (text !== '') return { summary: text, answered_by: 'model', memory: listing, heuristics: rules, tasks, files_created: [], files_modified: [] };
  } catch (error) {
    await ctx.log(`no model summary (${toFailure(error).message}); answering with the list`);
  }
  return { summary: listing, answered_by: 'memory', heuristics: rules, tasks, files_created: [], files_modified: [] };
}
