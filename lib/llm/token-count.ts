import type { LlmRequest } from './types.js';

/**
 * Deterministic token estimates for the local model server's `usage` numbers and its
 * count_tokens endpoint, and for budgeting without a network call. Not the real tokenizer: the
 * method is
 *   - a word (a run of letters and digits, any script) costs ceil(length / 4) tokens, so short
 *     words are one token and long ones are split every 4 characters, like a BPE vocabulary;
 *   - every other visible character (punctuation, symbols, emoji) costs one token;
 *   - whitespace is free: it merges into the next word, as it does in real vocabularies.
 * Real counts differ by a few tens of percent; these are stable across runs and machines.
 */
export function countTokens(text: string): number {
  let tokens = 0;
  for (const match of text.matchAll(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu)) {
    const piece = match[0];
    tokens += /^[\p{L}\p{N}]/u.test(piece) ? Math.ceil([...piece].length / 4) : 1;
  }
  return tokens;
}

/** Tokens each message adds for its role and framing. */
export const MESSAGE_OVERHEAD_TOKENS = 3;

/**
 * One piece of a request in the order the API reads a prompt: tools, then system blocks, then the
 * content blocks of each message. `cached` marks blocks that carry `cache_control`; `key` is the
 * piece's canonical JSON without the marker, so the same content gives the same key.
 */
export interface RequestSegment {
  key: string;
  tokens: number;
  cached: boolean;
}

/** The request split into segments; their tokens add up to `countRequestTokens(request)`. */
export function requestSegments(request: LlmRequest): RequestSegment[] {
  const segments: RequestSegment[] = [];
  for (const tool of asArray(request.tools)) {
    const { cache_control: marker, ...rest } = asRecord(tool);
    const text = [str(rest['name']), str(rest['description']), JSON.stringify(rest['input_schema'] ?? {})].join('\n');
    segments.push({ key: `tool:${canonical(rest)}`, tokens: countTokens(text), cached: marker !== undefined });
  }
  const system: unknown = request.system;
  if (typeof system === 'string') {
    segments.push({ key: `system:${canonical(system)}`, tokens: countTokens(system), cached: false });
  } else {
    for (const block of asArray(system)) {
      const { cache_control: marker, ...rest } = asRecord(block);
      segments.push({ key: `system:${canonical(rest)}`, tokens: blockTokens(rest), cached: marker !== undefined });
    }
  }
  for (const message of asArray(request.messages)) {
    const { role, content } = asRecord(message);
    const blocks = typeof content === 'string' ? [{ type: 'text', text: content }] : asArray(content);
    let overhead = MESSAGE_OVERHEAD_TOKENS;
    if (blocks.length === 0) segments.push({ key: `${str(role)}:empty`, tokens: overhead, cached: false });
    for (const block of blocks) {
      const { cache_control: marker, ...rest } = asRecord(block);
      segments.push({ key: `${str(role)}:${canonical(rest)}`, tokens: overhead + blockTokens(rest), cached: marker !== undefined });
      overhead = 0;
    }
  }
  return segments;
}

/** Input tokens of a Messages API request: tools, system and every message. */
export function countRequestTokens(request: LlmRequest): number {
  return requestSegments(request).reduce((sum, segment) => sum + segment.tokens, 0);
}

/** Text a content block contributes to a prompt, whatever its type. */
export function blockText(block: Record<string, unknown>): string {
  switch (block['type']) {
    case 'text':
      return str(block['text']);
    case 'tool_use':
      return `${str(block['name'])} ${JSON.stringify(block['input'] ?? {})}`;
    case 'tool_result':
      return toolResultText(block['content']);
    default: {
      const { type: _type, ...rest } = block;
      return JSON.stringify(rest);
    }
  }
}

/** The text of a tool_result's content, which is a string or a list of text (and other) blocks. */
export function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  return asArray(content)
    .map((part) => asRecord(part))
    .map((part) => (part['type'] === 'text' ? str(part['text']) : ''))
    .join('\n');
}

function blockTokens(block: Record<string, unknown>): number {
  return countTokens(blockText(block));
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner && typeof inner === 'object' && !Array.isArray(inner)) {
      return Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return inner;
  });
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

function asRecord(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
