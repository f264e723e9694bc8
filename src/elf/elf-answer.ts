import type { ElfStores } from '../../lib/elf/elf-stores.js';
import type { TaskContext } from '../../lib/runtime/task-consumer.js';

/**
 * A task sent to the `elf` domain is a question to the memory ("what do we know about auth
 * tokens?"): the answer lists the matching rules with their confidence and the past tasks that match,
 * failures with their errors.
 */
export async function answerQuestion(ctx: TaskContext, stores: ElfStores): Promise<Record<string, unknown>> {
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
  const summary = lines.length > 0 ? `What the network knows about "${task.description}":\n${lines.join('\n')}` : `Nothing in memory matches "${task.description}" yet.`;
  return { summary, heuristics: rules, tasks, files_created: [], files_modified: [] };
}
