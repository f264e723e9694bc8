import { z } from 'zod';
import { DanError, oneLine } from '../errors.js';
import { addLlmUsage, buildToolLoopRequest, callModelTimed, runToolLoop, type ToolLoopOptions, type ToolLoopResult } from './tool-loop.js';
import { responseText, type Message } from './types.js';

// Each start may scan to the end of the text; a long reply full of code braces stays cheap this way.
const MAX_BRACE_STARTS = 500;

/**
 * What a worker's last reply must hold. `files_created` / `files_modified` are what the model says it
 * did; the worker reports the tracker's lists, which are what it actually did.
 */
export const workerAnswerSchema = z.object({
  summary: z.string().trim().min(1, 'summary must not be empty'),
  files_created: z.array(z.string()).optional(),
  files_modified: z.array(z.string()).optional(),
  notes: z.string().optional(),
});
export type WorkerAnswer = z.infer<typeof workerAnswerSchema>;

/**
 * The JSON object in a model's reply, or undefined. Models wrap it in prose or a ```json fence
 * however they are asked, so this tries, in order: the whole text, each fenced block, then each
 * balanced `{...}` from left to right, and returns the first that parses to an object.
 */
export function extractJsonObject(text: string): Record<string, unknown> | undefined {
  const whole = parseObject(text.trim());
  if (whole) return whole;
  for (const fence of text.matchAll(/```[a-zA-Z0-9_-]*[^\S\n]*\n([\s\S]*?)```/g)) {
    const fenced = parseObject((fence[1] ?? '').trim());
    if (fenced) return fenced;
  }
  let tries = 0;
  for (let start = text.indexOf('{'); start !== -1 && tries < MAX_BRACE_STARTS; start = text.indexOf('{', start + 1), tries += 1) {
    const end = balancedEnd(text, start);
    if (end === undefined) continue;
    const found = parseObject(text.slice(start, end + 1));
    if (found) return found;
  }
  return undefined;
}

/**
 * The final answer in `text`, checked against `schema`, or a DanError `invalid_final_answer` whose
 * message says what was wrong, in words that can be sent back to the model.
 */
export function parseFinalAnswer<T>(text: string, schema: z.ZodType<T>): T {
  const found = extractJsonObject(text);
  if (!found) {
    throw new DanError('invalid_final_answer', `no JSON object was found in the final reply: ${preview(text)}`);
  }
  const parsed = schema.safeParse(found);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(the object)'}: ${issue.message}`);
  throw new DanError('invalid_final_answer', `the JSON object in the final reply does not fit the answer format: ${problems.join('; ')}`);
}

export interface AnswerResult<T> extends ToolLoopResult {
  answer: T;
  /** True when the answer came from the repair round. */
  repaired: boolean;
}

/**
 * Runs the tool loop and parses its final reply with `schema`. A reply that does not parse gets one
 * repair round: the model is told what was wrong and asked for only the JSON object. If that fails
 * too, a DanError `invalid_final_answer` (not retryable) ends the task with both problems.
 */
export async function runToolLoopWithAnswer<T>(options: ToolLoopOptions, schema: z.ZodType<T>): Promise<AnswerResult<T>> {
  const result = await runToolLoop(options);
  let firstProblem: string;
  try {
    return { ...result, answer: parseFinalAnswer(result.finalText, schema), repaired: false };
  } catch (error) {
    if (!(error instanceof DanError)) throw error;
    firstProblem = error.message;
  }

  const turn = result.turns + 1;
  options.onEvent?.({ type: 'turn_started', turn });
  const messages: Message[] = [...result.messages, { role: 'user', content: repairPrompt(firstProblem, schema) }];
  // Same system text and tools as the loop (history with tool calls needs the tools declared), so
  // the cached prefix is reused; the prompt asks for no tool calls.
  const response = await callModelTimed(
    options.client, buildToolLoopRequest(options, messages), options.signal ?? options.toolContext.signal, turn, options.onEvent ?? (() => undefined),
  );
  addLlmUsage(result.usage, response.usage);
  const finalText = responseText(response);
  messages.push({ role: 'assistant', content: response.content.length > 0 ? response.content : [{ type: 'text', text: '(empty reply)' }] });
  options.onEvent?.({ type: 'final', turn, text: finalText });
  const repaired = { ...result, finalText, turns: turn, messages };
  try {
    return { ...repaired, answer: parseFinalAnswer(finalText, schema), repaired: true };
  } catch (error) {
    if (!(error instanceof DanError)) throw error;
    throw new DanError(
      'invalid_final_answer',
      `the model's final answer was unusable twice: first ${firstProblem}; after one repair request, ${error.message}`,
      { retryable: false },
    );
  }
}

function repairPrompt(problem: string, schema: z.ZodType<unknown>): string {
  const shape = describeSchema(schema);
  return (
    `Your final reply could not be used: ${problem}.\n` +
    'Reply now with only the JSON object of your final answer, nothing before or after it, and call no tools.' +
    (shape ? `\nIt must match this JSON Schema: ${shape}` : '')
  );
}

/** The schema as compact JSON Schema, or '' for schemas zod cannot express that way (transforms). */
function describeSchema(schema: z.ZodType<unknown>): string {
  try {
    const { $schema: _ignored, ...json } = z.toJSONSchema(schema) as Record<string, unknown>;
    return JSON.stringify(json);
  } catch {
    return '';
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Index of the `}` closing the `{` at `start`, skipping braces inside JSON strings. */
function balancedEnd(text: string, start: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let index = start; index < text.length; index += 1) {
    const char = text[index];
    if (inString) {
      if (char === '\\') index += 1;
      else if (char === '"') inString = false;
    } else if (char === '"') {
      inString = true;
    } else if (char === '{') {
      depth += 1;
    } else if (char === '}') {
      depth -= 1;
      if (depth === 0) return index;
    }
  }
  return undefined;
}

function preview(text: string): string {
  const line = oneLine(text);
  if (line === '') return '(the reply was empty)';
  return line.length > 200 ? `'${line.slice(0, 197)}...'` : `'${line}'`;
}
