import { countTokens } from '../token-count.js';
import type { LlmRequest, LlmResponse, TextBlock, ToolUseBlock } from '../types.js';
import type { InputUsage } from './prompt-cache.js';
import type { ReplySpec } from './rules.js';

/** A Messages API response as it goes over the wire: our `LlmResponse` plus the fields clients expect. */
export interface WireMessage extends LlmResponse {
  type: 'message';
  stop_sequence: null;
}

/**
 * Message and tool-use ids, numbered per server or client so that a test can predict them.
 * The shape (`msg_...`, `toolu_...`) is what clients check for.
 */
export class IdSource {
  private messages = 0;
  private toolUses = 0;

  constructor(private readonly tag = 'local') {}

  message(): string {
    this.messages += 1;
    return `msg_${this.tag}_${String(this.messages).padStart(6, '0')}`;
  }

  toolUse(): string {
    this.toolUses += 1;
    return `toolu_${this.tag}_${String(this.toolUses).padStart(6, '0')}`;
  }
}

/** Output tokens of an answer, counted the same way as input. */
export function outputTokens(content: readonly (TextBlock | ToolUseBlock)[]): number {
  let tokens = 0;
  for (const block of content) {
    tokens += block.type === 'text' ? countTokens(block.text) : countTokens(`${block.name} ${JSON.stringify(block.input)}`);
  }
  return Math.max(tokens, 1);
}

/** Turns a rule's (non-error) reply into a full message with ids and usage. */
export function buildMessage(reply: ReplySpec, request: LlmRequest, input: InputUsage, ids: IdSource): WireMessage {
  const content: (TextBlock | ToolUseBlock)[] = [];
  if (reply.text !== undefined && (reply.text.length > 0 || !reply.tool_use?.length)) content.push({ type: 'text', text: reply.text });
  for (const call of reply.tool_use ?? []) content.push({ type: 'tool_use', id: ids.toolUse(), name: call.name, input: call.input });
  const hasToolUse = content.some((block) => block.type === 'tool_use');
  return {
    id: ids.message(),
    type: 'message',
    role: 'assistant',
    model: typeof request.model === 'string' ? request.model : '',
    content,
    stop_reason: reply.stop_reason ?? (hasToolUse ? 'tool_use' : 'end_turn'),
    stop_sequence: null,
    usage: { ...input, output_tokens: outputTokens(content) },
  };
}

/** One server-sent event of a streamed message. */
export interface StreamEvent {
  event: string;
  data: Record<string, unknown>;
}

/**
 * The event sequence of a streamed message, as the real API sends it: message_start, then per
 * block content_block_start, content_block_delta (text_delta or input_json_delta, in small
 * pieces) and content_block_stop, then message_delta with the stop reason and output usage, and
 * message_stop.
 */
export function streamEvents(message: WireMessage): StreamEvent[] {
  const events: StreamEvent[] = [];
  const add = (event: string, data: Record<string, unknown>): void => {
    events.push({ event, data: { type: event, ...data } });
  };
  add('message_start', {
    message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...message.usage, output_tokens: 1 } },
  });
  message.content.forEach((block, index) => {
    if (block.type === 'text') {
      add('content_block_start', { index, content_block: { type: 'text', text: '' } });
      for (const piece of chunks(block.text, 24)) add('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
    } else {
      add('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      for (const piece of chunks(JSON.stringify(block.input), 64)) {
        add('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } });
      }
    }
    add('content_block_stop', { index });
  });
  add('message_delta', { delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: { output_tokens: message.usage.output_tokens } });
  add('message_stop', {});
  return events;
}

/** Splits text into pieces of at most `size` characters, never inside a surrogate pair. */
function chunks(text: string, size: number): string[] {
  const characters = [...text];
  const pieces: string[] = [];
  for (let start = 0; start < characters.length; start += size) pieces.push(characters.slice(start, start + size).join(''));
  return pieces.length > 0 ? pieces : [''];
}
