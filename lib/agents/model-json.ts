import type { z } from 'zod';
import type { LlmClient } from '../llm/llm-client.js';
import type { ModelCallTiming } from '../protocol/timed-call.js';
import type { LlmRequest } from '../llm/types.js';
import { responseText } from '../llm/types.js';

/** Outcome of reading a JSON answer out of a model's text. */
export type ModelJson = { ok: true; value: unknown } | { ok: false; problem: string };

/**
 * Reads the JSON object a model was asked to answer with. Models often wrap it in a ```json fence
 * or add a sentence around it, so this takes the fenced block if there is one, otherwise the text
 * from the first `{` to the last `}`. Never throws: the caller falls back with `problem` as reason.
 */
export function parseModelJson(text: string): ModelJson {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, problem: 'the answer was empty' };
  const fenced = /```(?:json|JSON)?\s*\n?([\s\S]*?)```/.exec(trimmed);
  let candidate = fenced?.[1]?.trim() ?? trimmed;
  if (!candidate.startsWith('{')) {
    const start = candidate.indexOf('{');
    const end = candidate.lastIndexOf('}');
    if (start < 0) return { ok: false, problem: `the answer has no JSON object: "${preview(trimmed)}"` };
    // An opening brace without a closing one is a cut-off answer: parse it to report where it broke.
    candidate = end > start ? candidate.slice(start, end + 1) : candidate.slice(start);
  }
  try {
    return { ok: true, value: JSON.parse(candidate) as unknown };
  } catch (error) {
    return { ok: false, problem: `the answer is not valid JSON (${(error as Error).message}): "${preview(trimmed)}"` };
  }
}

/** The first 120 characters of a text on one line, for reasons and logs. */
function preview(text: string): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/**
 * Asks the model one question whose answer must be a JSON object of `schema`'s shape: one call, no
 * tools. Never throws for a bad answer or a failed call (the caller falls back with `problem`), but
 * rethrows when `signal` was aborted: nobody is waiting for the answer any more. `onCall` hears how
 * the call went (its duration, and its error when it failed), for the task's timeline.
 */
export async function askModelJson<T>(
  client: LlmClient,
  request: LlmRequest,
  schema: z.ZodType<T>,
  signal: AbortSignal | undefined,
  onCall?: (call: ModelCallTiming) => void,
): Promise<{ ok: true; value: T } | { ok: false; problem: string }> {
  let text: string;
  const began = performance.now();
  try {
    text = responseText(await client.createMessage(request, signal === undefined ? undefined : { signal }));
  } catch (error) {
    onCall?.({ durationMs: performance.now() - began, error: (error as Error).message });
    if (signal?.aborted) throw error;
    return { ok: false, problem: `the model call failed: ${(error as Error).message}` };
  }
  onCall?.({ durationMs: performance.now() - began });
  const json = parseModelJson(text);
  if (!json.ok) return json;
  const parsed = schema.safeParse(json.value);
  if (!parsed.success) return { ok: false, problem: parsed.error.issues[0]?.message ?? 'the answer has the wrong shape' };
  return { ok: true, value: parsed.data };
}
