import { describe, expect, it } from 'vitest';
import { buildMessage, IdSource, streamEvents } from '../../lib/llm/local-server/build-response.js';
import { PromptCache } from '../../lib/llm/local-server/prompt-cache.js';
import { countRequestTokens } from '../../lib/llm/token-count.js';
import type { LlmRequest } from '../../lib/llm/types.js';

const usage = { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
const req: LlmRequest = { model: 'claude-sonnet-5-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };

describe('local model wire format', () => {
  it('streams text and tool_use blocks as the API does, and the deltas rebuild the message', () => {
    const message = buildMessage(
      { text: 'A fairly long sentence that is split into several deltas.', tool_use: [{ name: 'Write', input: { file_path: 'a.ts', content: 'x'.repeat(200) } }] },
      req, usage, new IdSource('t'),
    );
    const events = streamEvents(message);
    const names = events.map((e) => e.event);

    expect(names[0]).toBe('message_start');
    expect(names.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(events.every((e) => e.data['type'] === e.event)).toBe(true);
    const text = events.filter((e) => e.data['index'] === 0 && e.event === 'content_block_delta').map((e) => (e.data['delta'] as { text: string }).text).join('');
    const json = events.filter((e) => e.data['index'] === 1 && e.event === 'content_block_delta').map((e) => (e.data['delta'] as { partial_json: string }).partial_json).join('');
    expect(text).toBe('A fairly long sentence that is split into several deltas.');
    expect(JSON.parse(json)).toEqual({ file_path: 'a.ts', content: 'x'.repeat(200) });
    expect(events.filter((e) => e.event === 'content_block_delta' && e.data['index'] === 1).length).toBeGreaterThan(1);
    expect(events.at(-2)?.data).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { output_tokens: message.usage.output_tokens } });
  });

  it('numbers ids per source and defaults the stop reason from the content', () => {
    const ids = new IdSource('t');
    const text = buildMessage({ text: 'x' }, req, usage, ids);
    const tool = buildMessage({ tool_use: [{ name: 'Read', input: {} }] }, req, usage, ids);

    expect([text.id, tool.id]).toEqual(['msg_t_000001', 'msg_t_000002']);
    expect(text.stop_reason).toBe('end_turn');
    expect(tool.stop_reason).toBe('tool_use');
    expect(tool.content).toEqual([{ type: 'tool_use', id: 'toolu_t_000001', name: 'Read', input: {} }]);
  });

  it('writes a cached prefix once, reads it after, and reads the longest known prefix when the conversation grows', () => {
    const cache = new PromptCache();
    const base: LlmRequest = {
      model: 'm', max_tokens: 10,
      system: [{ type: 'text', text: 'A long and stable system prompt.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'first question', cache_control: { type: 'ephemeral' } }] }],
    };
    const total = countRequestTokens(base);
    const first = cache.usage(base);
    const again = cache.usage(base);
    const grown: LlmRequest = {
      ...base,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'first question' }] },
        { role: 'assistant', content: 'an answer' },
        { role: 'user', content: [{ type: 'text', text: 'second question', cache_control: { type: 'ephemeral' } }] },
      ],
    };
    const afterGrowth = cache.usage(grown);

    expect(first).toEqual({ input_tokens: 0, cache_creation_input_tokens: total, cache_read_input_tokens: 0 });
    expect(again).toEqual({ input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: total });
    expect(afterGrowth.cache_read_input_tokens).toBe(countRequestTokens({ ...base, messages: [] }));
    expect(afterGrowth.cache_creation_input_tokens).toBe(countRequestTokens(grown) - afterGrowth.cache_read_input_tokens);
    expect(cache.usage({ ...base, model: 'other' }).cache_read_input_tokens).toBe(0);
  });
});
