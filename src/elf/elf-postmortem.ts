import { z } from 'zod';
import { askModelJson } from '../../lib/agents/model-json.js';
import type { ElfMemory } from '../../lib/elf/elf-memory.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';

/** The marker the local model server's default rules answer postmortems by. */
export const POSTMORTEM_MARKER = 'dan-postmortem';

const answerSchema = z.object({
  analysis: z.string().trim().min(1),
  rules: z.array(z.string().trim().min(1).max(500)).max(3),
});

const system = `${POSTMORTEM_MARKER}
You review a task of a network of coding agents that failed. Say in one or two sentences why it
failed, and propose at most three lessons that would keep later tasks of the same domain from failing
the same way: each one sentence, general enough to apply again, not a restatement of this task.
Answer with only a JSON object: {"analysis": "...", "rules": ["...", "..."]}.`;

/**
 * A postmortem of a failed task: the model explains the failure and proposes lessons, which are
 * recorded as candidate heuristics (source `postmortem`, starting confidence) for the domain, which a
 * person approves before any prompt sees them. Returns the ids,
 * or the reason nothing was recorded (a model answer that is not the JSON asked for).
 */
export async function runPostmortem(
  input: { client: LlmClient; model: string; memory: ElfMemory; taskId: string; domain: string; description: string; error: string },
): Promise<{ ok: true; heuristicIds: number[] } | { ok: false; problem: string }> {
  const answer = await askModelJson(input.client, {
    model: input.model,
    max_tokens: 1024,
    system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: `Task: ${input.description || input.taskId}\nDomain: ${input.domain}\nError: ${input.error}` }],
  }, answerSchema, undefined);
  if (!answer.ok) return answer;
  const recorded = input.memory.recordPostmortem({
    taskId: input.taskId, domain: input.domain, error: input.error, analysis: answer.value.analysis, proposedRules: answer.value.rules,
  });
  return { ok: true, heuristicIds: recorded.heuristicIds };
}
