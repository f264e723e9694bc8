import { blockText, toolResultText } from '../token-count.js';
import type { LlmRequest } from '../types.js';

/**
 * What the rules engine looks at in a request, extracted once. Requests come from our own
 * clients and from other Messages API clients (the Claude Code CLI sends `role: "system"`
 * messages and unknown block types), so everything is read defensively.
 */
export interface RequestFacts {
  model: string;
  /** The top-level system prompt plus any `role: "system"` messages, joined by newlines. */
  system: string;
  /** Text of the last user message, tool_result contents included. */
  lastUser: string;
  /** System plus the text of every message. */
  anyText: string;
  /** The last user message carries a tool_result. */
  hasToolResult: boolean;
  /** The conversation's most recent tool_result, if any (it may be before the last user message). */
  lastToolResult: { text: string; isError: boolean } | undefined;
  /** Names of the tools the request offers. */
  tools: string[];
  /** The `Task: ...` line of the first user message, or its first line of plain text. */
  task: string;
  /** From a `Worker: <name>` line of the system prompt. */
  worker: string;
  /** From a `Domain: <name>` line of the system prompt. */
  domain: string;
  /** The working directory the client names (Claude Code: `Primary working directory: ...`). */
  cwd: string;
  /** `file_path` of the assistant's most recent tool_use, if any. */
  lastFile: string;
  /** tool_use blocks the assistant sent earlier in the conversation. */
  priorToolUses: number;
}

/** Reads the facts of a request; never throws on shapes it does not know. */
export function requestFacts(request: LlmRequest): RequestFacts {
  const messages = (Array.isArray(request.messages) ? request.messages : []).map((m) => ({
    role: String((m as { role?: unknown }).role ?? ''),
    blocks: contentBlocks((m as { content?: unknown }).content),
  }));
  const systemParts = [systemText(request.system)];
  for (const message of messages) {
    if (message.role === 'system') systemParts.push(message.blocks.map(blockText).join('\n'));
  }
  const system = systemParts.filter((part) => part.length > 0).join('\n');
  const users = messages.filter((m) => m.role === 'user');
  const lastUserBlocks = users.at(-1)?.blocks ?? [];
  const toolResults = lastUserBlocks.filter((b) => b['type'] === 'tool_result');
  const lastResult = users.flatMap((m) => m.blocks).filter((b) => b['type'] === 'tool_result').at(-1);
  const anyText = [system, ...messages.filter((m) => m.role !== 'system').map((m) => m.blocks.map(blockText).join('\n'))].join('\n');

  return {
    model: typeof request.model === 'string' ? request.model : '',
    system,
    lastUser: lastUserBlocks.map(blockText).join('\n'),
    anyText,
    hasToolResult: toolResults.length > 0,
    lastToolResult: lastResult ? { text: toolResultText(lastResult['content']), isError: lastResult['is_error'] === true } : undefined,
    tools: (Array.isArray(request.tools) ? request.tools : []).map((t) => String((t as { name?: unknown }).name ?? '')),
    task: taskOf(users[0]?.blocks ?? []),
    worker: lineValue(system, 'Worker'),
    domain: lineValue(system, 'Domain'),
    cwd: /^\s*-?\s*Primary working directory:\s*(.+?)\s*$/m.exec(anyText)?.[1] ?? '',
    lastFile: lastToolFile(messages),
    priorToolUses: messages.filter((m) => m.role === 'assistant').flatMap((m) => m.blocks).filter((b) => b['type'] === 'tool_use').length,
  };
}

function contentBlocks(content: unknown): Record<string, unknown>[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  return content.filter((b): b is Record<string, unknown> => !!b && typeof b === 'object');
}

function systemText(system: unknown): string {
  if (typeof system === 'string') return system;
  return contentBlocks(system).map(blockText).join('\n');
}

function lineValue(text: string, label: string): string {
  return new RegExp(`^\\s*${label}:\\s*(\\S+)`, 'm').exec(text)?.[1] ?? '';
}

/** Our clients start with `Task: ...`; other clients (the CLI) wrap the prompt in reminder blocks. */
function taskOf(blocks: Record<string, unknown>[]): string {
  const texts = blocks.filter((b) => b['type'] === 'text').map((b) => String(b['text'] ?? ''));
  for (const text of texts) {
    const line = /^\s*Task:\s*(.+?)\s*$/m.exec(text)?.[1];
    if (line) return line;
  }
  const plain = texts.filter((t) => !t.trimStart().startsWith('<')).at(-1) ?? '';
  return plain.trim().split('\n')[0]?.trim() ?? '';
}

function lastToolFile(messages: { role: string; blocks: Record<string, unknown>[] }[]): string {
  for (const message of [...messages].reverse()) {
    if (message.role !== 'assistant') continue;
    for (const block of [...message.blocks].reverse()) {
      const input = block['input'] as Record<string, unknown> | undefined;
      if (block['type'] === 'tool_use' && typeof input?.['file_path'] === 'string') return input['file_path'];
    }
  }
  return '';
}
