import { describe, expect, it } from 'vitest';
import { countRequestTokens, countTokens, MESSAGE_OVERHEAD_TOKENS, requestSegments } from '../../lib/llm/token-count.js';
import type { LlmRequest } from '../../lib/llm/types.js';

describe('token counting', () => {
  it('counts a word per 4 characters, punctuation as one each, whitespace as nothing', () => {
    expect(countTokens('')).toBe(0);
    expect(countTokens('   \n\t')).toBe(0);
    expect(countTokens('the')).toBe(1);
    expect(countTokens('health')).toBe(2);
    expect(countTokens('internationalization')).toBe(5);
    expect(countTokens('a, b!')).toBe(4);
    expect(countTokens('Grüße aus Köln')).toBe(2 + 1 + 1);
  });

  it('is the same for the same text, however often it is asked', () => {
    const text = 'export function handler(req, res) { res.end("ok"); }';
    expect(countTokens(text)).toBe(countTokens(text));
    expect(countTokens(text)).toBeGreaterThan(10);
  });

  it('counts a request as tools, system and messages, with a small overhead per message', () => {
    const request: LlmRequest = {
      model: 'm',
      max_tokens: 10,
      system: [{ type: 'text', text: 'You are terse.' }],
      tools: [{ name: 'Read', description: 'Read a file', input_schema: { type: 'object', properties: {} } }],
      messages: [
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'Read', input: { file_path: 'a.ts' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'contents' }] },
      ],
    };
    const expected =
      countTokens('Read\nRead a file\n{"type":"object","properties":{}}') +
      countTokens('You are terse.') +
      3 * MESSAGE_OVERHEAD_TOKENS + countTokens('Hello') + countTokens('Read {"file_path":"a.ts"}') + countTokens('contents');

    expect(countRequestTokens(request)).toBe(expected);
    expect(requestSegments(request).reduce((sum, s) => sum + s.tokens, 0)).toBe(expected);
  });

  it('does not let a cache_control marker change the count', () => {
    const plain: LlmRequest = { model: 'm', max_tokens: 1, system: [{ type: 'text', text: 'same text' }], messages: [{ role: 'user', content: 'x' }] };
    const marked: LlmRequest = { ...plain, system: [{ type: 'text', text: 'same text', cache_control: { type: 'ephemeral' } }] };

    expect(countRequestTokens(marked)).toBe(countRequestTokens(plain));
  });
});
