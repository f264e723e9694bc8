import { z } from 'zod';
import { askModelJson } from '../../lib/agents/model-json.js';
import type { Chunk } from '../../lib/farm/chunks.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';

/** The marker in the splitter's system prompt (and its request metadata), what scripted models key on. */
export const TASK_SPLITTER_MARKER = 'dan-farm-splitter';

const answerSchema = z.object({
  parts: z.array(z.object({
    description: z.string().trim().min(1),
    files: z.array(z.string().trim().min(1)).optional(),
  })).min(1, 'at least one part'),
});

/**
 * The task-less farm: no problems command, so the model splits the task itself into independent
 * parts, one chunk each, with the files each part will touch (locked for it when an agent takes it).
 * An unusable answer gives one part, the whole task, and says why.
 */
export async function splitTask(client: LlmClient, model: string, task: string, files: readonly string[], maxParts: number, signal: AbortSignal): Promise<{ chunks: Chunk[]; note: string }> {
  const system = [
    `${TASK_SPLITTER_MARKER}: you split one software task into independent parts for ${maxParts} agents working at the same time in one git repository.`,
    'Parts must not need each other and should touch different files. Give at most',
    `${maxParts} parts. Reply with only a JSON object: {"parts": [{"description": "<what to do, standing on its own>", "files": ["<path>", ...]}]}.`,
  ].join(' ');
  const listing = files.slice(0, 200).join('\n');
  const parsed = await askModelJson(client, {
    model, max_tokens: 2048, temperature: 0,
    system: [{ type: 'text', text: system }],
    messages: [{ role: 'user', content: `Task: ${task}\n\nFiles in the repository:\n${listing}` }],
    metadata: { user_id: TASK_SPLITTER_MARKER },
  }, answerSchema, signal);
  if (!parsed.ok) {
    return { chunks: [{ id: '1', files: [], problems: [], part: task }], note: `the model's split was unusable (${parsed.problem}); the whole task is one part` };
  }
  const known = new Set(files);
  const chunks = parsed.value.parts.slice(0, maxParts).map((part, i) => ({
    id: String(i + 1),
    // Only files that exist are locked up front; a part that creates files takes their locks as it writes.
    files: [...new Set((part.files ?? []).map((f) => f.replace(/^\.\//, '')).filter((f) => known.has(f)))],
    problems: [],
    part: part.description,
  }));
  return { chunks, note: `the model split the task into ${chunks.length} part(s)` };
}
