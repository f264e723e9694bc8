import { DanError, oneLine } from '../errors.js';
import { addUsage, emptyUsage, type TokenUsage } from '../protocol/result.js';
import type { LlmClient } from './llm-client.js';
import { AbortedError, throwIfAborted } from './tools/tool-error.js';
import { cutToBytes, type ToolContext, type WorkerTool } from './tools/worker-tool.js';
import {
  responseText,
  type CacheControl,
  type ContentBlock,
  type LlmRequest,
  type LlmResponse,
  type LlmUsage,
  type Message,
  type ToolResultBlock,
  type ToolUseBlock,
} from './types.js';

/** Progress of a loop, for the task's log lines. `summary` texts are one line and short. */
export type ToolLoopEvent =
  | { type: 'turn_started'; turn: number }
  /** The model answered: this call's usage, whose input side is the size of the context it saw, and how long the call took. */
  | { type: 'turn_ended'; turn: number; usage: LlmUsage; ms: number }
  /** The model call failed (an API error, a timeout, the task cancelled): how long it ran and why; the error then ends the loop. */
  | { type: 'turn_failed'; turn: number; ms: number; error: string }
  | { type: 'tool_called'; turn: number; tool: string; summary: string }
  | { type: 'tool_result'; turn: number; tool: string; ok: boolean; summary: string; ms: number }
  | { type: 'final'; turn: number; text: string };

export interface ToolLoopOptions {
  client: LlmClient;
  model: string;
  /** Stable instructions (the agent definition): sent as one cached system block. */
  system: string;
  /** The first user message: the task. */
  prompt: string;
  tools: WorkerTool[];
  /** Model calls allowed; a model still calling tools after that many is stopped. */
  maxTurns: number;
  maxTokens: number;
  /** Cancels the task; overrides `toolContext.signal` when both are given. */
  signal?: AbortSignal;
  toolContext: ToolContext;
  onEvent?: (event: ToolLoopEvent) => void;
  /** Passed through to the request, to tell calls apart in recordings. */
  metadata?: LlmRequest['metadata'];
}

export interface ToolLoopResult {
  /** Text of the model's last reply. */
  finalText: string;
  /** Model calls made. */
  turns: number;
  /** Summed over every call. */
  usage: TokenUsage;
  /** The whole conversation, starting with the prompt and ending with the model's last reply. */
  messages: Message[];
}

const EPHEMERAL: CacheControl = { type: 'ephemeral' };
// Event summaries are log lines, not transcripts.
const SUMMARY_CHARS = 120;
// Room above maxOutputBytes for the notes tools append to cut output.
const NOTE_ALLOWANCE_BYTES = 4096;

/**
 * What a worker does with the model: call it, run the tools it asks for, send the results back, and
 * repeat until it answers without tools. A tool problem goes back to the model as an `is_error`
 * result for it to fix; model errors propagate unchanged (the client decides what is retryable);
 * running out of turns is a `max_turns` DanError and a fired signal an `aborted` one. The system
 * text, the tool list and the conversation so far are marked for prompt caching, so each turn pays
 * full price only for what is new.
 */
export async function runToolLoop(options: ToolLoopOptions): Promise<ToolLoopResult> {
  const messages: Message[] = [{ role: 'user', content: options.prompt }];
  const usage = emptyUsage();
  const tools = new Map(options.tools.map((tool) => [tool.definition.name, tool]));
  const ctx: ToolContext = { ...options.toolContext, signal: options.signal ?? options.toolContext.signal };
  const emit = options.onEvent ?? (() => undefined);

  for (let turn = 1; turn <= options.maxTurns; turn += 1) {
    emit({ type: 'turn_started', turn });
    const response = await callModelTimed(options.client, buildToolLoopRequest(options, messages), ctx.signal, turn, emit);
    addLlmUsage(usage, response.usage);
    messages.push({ role: 'assistant', content: assistantContent(response) });
    if (response.stop_reason === 'refusal') {
      throw new DanError('model_refused', `the model refused the task at turn ${turn}: ${oneLine(responseText(response)) || 'no reason given'}`);
    }
    const calls = response.content.filter((block): block is ToolUseBlock => block.type === 'tool_use');
    if (calls.length > 0 && response.stop_reason === 'tool_use') {
      messages.push({ role: 'user', content: await runToolCalls(calls, tools, ctx, turn, emit) });
      continue;
    }
    if (calls.length > 0 && response.stop_reason === 'max_tokens') {
      // The last call's input may be cut off: none is run, and the model is told to send less at once.
      messages.push({ role: 'user', content: calls.map((call) => cutOffResult(call, options.maxTokens)) });
      continue;
    }
    const finalText = responseText(response);
    emit({ type: 'final', turn, text: finalText });
    return { finalText, turns: turn, usage, messages };
  }
  throw new DanError(
    'max_turns',
    `the model was still calling tools after ${options.maxTurns} turns, the limit; raise maxTurns (DAN_MAX_TURNS) or split the task`,
  );
}

/**
 * The request for the next turn. Up to three cache breakpoints (the API allows four): the system
 * block, the last tool definition, and the last block of the newest message. Each prefix is stable
 * from turn to turn, so the next call reads it from the cache.
 */
export function buildToolLoopRequest(
  options: Pick<ToolLoopOptions, 'model' | 'system' | 'tools' | 'maxTokens' | 'metadata'>,
  messages: Message[],
): LlmRequest {
  const definitions = options.tools.map((tool, index, all) => {
    const { cache_control: _ignored, ...definition } = tool.definition;
    return index === all.length - 1 ? { ...definition, cache_control: EPHEMERAL } : definition;
  });
  return {
    model: options.model,
    max_tokens: options.maxTokens,
    ...(options.system === '' ? {} : { system: [{ type: 'text' as const, text: options.system, cache_control: EPHEMERAL }] }),
    messages: withCacheBreakpoint(messages),
    ...(definitions.length > 0 ? { tools: definitions } : {}),
    ...(options.metadata ? { metadata: options.metadata } : {}),
  };
}

/** Calls the model, giving up as soon as `signal` fires even if the client ignores it. */
export async function callModel(client: LlmClient, request: LlmRequest, signal: AbortSignal | undefined): Promise<LlmResponse> {
  throwIfAborted(signal, 'the task');
  try {
    return await raceAbort(client.createMessage(request, signal ? { signal } : {}), signal);
  } catch (error) {
    if (signal?.aborted && !(error instanceof AbortedError)) throw new AbortedError('the task', signal.reason);
    throw error;
  }
}

/**
 * `callModel` for turn `turn`, telling `emit` how the call went: `turn_ended` with its usage and
 * duration, or `turn_failed` with its duration and error (which still propagates), so a failed call
 * shows on the task's timeline like one that answered.
 */
export async function callModelTimed(
  client: LlmClient,
  request: LlmRequest,
  signal: AbortSignal | undefined,
  turn: number,
  emit: (event: ToolLoopEvent) => void,
): Promise<LlmResponse> {
  const began = performance.now();
  let response: LlmResponse;
  try {
    response = await callModel(client, request, signal);
  } catch (error) {
    emit({ type: 'turn_failed', turn, ms: performance.now() - began, error: error instanceof Error ? error.message : String(error) });
    throw error;
  }
  emit({ type: 'turn_ended', turn, usage: response.usage, ms: performance.now() - began });
  return response;
}

/** Adds one response's usage (nulls as zero) into a running total. */
export function addLlmUsage(total: TokenUsage, usage: LlmUsage | undefined): TokenUsage {
  if (!usage) return total;
  return addUsage(total, {
    input_tokens: usage.input_tokens,
    output_tokens: usage.output_tokens,
    cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
  });
}

/** The reply as it goes into the history: the API refuses empty text blocks and empty messages. */
function assistantContent(response: LlmResponse): ContentBlock[] {
  const blocks = response.content.filter((block) => block.type !== 'text' || block.text !== '');
  return blocks.length > 0 ? blocks : [{ type: 'text', text: '(empty reply)' }];
}

async function runToolCalls(
  calls: ToolUseBlock[],
  tools: Map<string, WorkerTool>,
  ctx: ToolContext,
  turn: number,
  emit: (event: ToolLoopEvent) => void,
): Promise<ToolResultBlock[]> {
  const results: ToolResultBlock[] = [];
  for (const call of calls) {
    throwIfAborted(ctx.signal, 'the task');
    emit({ type: 'tool_called', turn, tool: call.name, summary: summarizeToolInput(call.input) });
    const began = performance.now();
    const outcome = await runToolCall(call, tools, ctx);
    emit({ type: 'tool_result', turn, tool: call.name, ok: outcome.ok, summary: shorten(outcome.text.split('\n')[0] ?? ''), ms: performance.now() - began });
    const content = guardSize(outcome.text, ctx.maxOutputBytes);
    results.push({ type: 'tool_result', tool_use_id: call.id, content, ...(outcome.ok ? {} : { is_error: true }) });
  }
  return results;
}

/** Runs one call; every failure but an abort becomes text for the model. */
async function runToolCall(call: ToolUseBlock, tools: Map<string, WorkerTool>, ctx: ToolContext): Promise<{ ok: boolean; text: string }> {
  const tool = tools.get(call.name);
  if (!tool) return { ok: false, text: `unknown tool '${call.name}'; the tools you have are: ${[...tools.keys()].join(', ') || 'none'}` };
  try {
    const text = await raceAbort(tool.run(call.input, ctx), ctx.signal);
    return { ok: true, text: text === '' ? '(no output)' : text };
  } catch (error) {
    if (ctx.signal?.aborted) throw error instanceof AbortedError ? error : new AbortedError('the task', ctx.signal.reason);
    if (error instanceof DanError) return { ok: false, text: error.message || `${call.name} failed` };
    ctx.logger?.warn({ err: error, tool: call.name }, 'tool failed unexpectedly');
    return { ok: false, text: `${call.name} failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/**
 * Our tools keep their output within `maxOutputBytes` plus a note (how to read on, the exit code);
 * this only stops a tool that does not, with room left for those notes.
 */
function guardSize(text: string, maxOutputBytes: number): string {
  const limit = maxOutputBytes + NOTE_ALLOWANCE_BYTES;
  if (Buffer.byteLength(text, 'utf8') <= limit) return text;
  return `${cutToBytes(text, limit)}\n[tool output cut at ${limit} bytes]`;
}

function cutOffResult(call: ToolUseBlock, maxTokens: number): ToolResultBlock {
  return {
    type: 'tool_result',
    tool_use_id: call.id,
    is_error: true,
    content: `not run: your reply hit the ${maxTokens}-token output limit before this call was complete; send smaller pieces (write a large file in several steps)`,
  };
}

/** One short line naming what a call works on: its path, pattern or command. */
export function summarizeToolInput(input: Record<string, unknown>): string {
  const parts = ['file_path', 'command', 'pattern', 'path', 'glob']
    .map((key) => input[key])
    .filter((value): value is string => typeof value === 'string' && value !== '');
  return shorten(parts.length > 0 ? parts.join(' ') : JSON.stringify(input) ?? '');
}

function shorten(text: string): string {
  const line = oneLine(text);
  return line.length > SUMMARY_CHARS ? `${line.slice(0, SUMMARY_CHARS - 3)}...` : line;
}

function withCacheBreakpoint(messages: Message[]): Message[] {
  const last = messages[messages.length - 1];
  if (!last) return messages;
  const blocks: ContentBlock[] = typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : [...last.content];
  const tail = blocks[blocks.length - 1];
  if (!tail || tail.type === 'tool_use' || (tail.type === 'text' && tail.text === '')) return messages;
  blocks[blocks.length - 1] = { ...tail, cache_control: EPHEMERAL };
  return [...messages.slice(0, -1), { role: last.role, content: blocks }];
}

function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError('the task', signal.reason));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
