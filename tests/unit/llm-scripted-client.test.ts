import { describe, expect, it } from 'vitest';
import { LlmError } from '../../lib/llm/llm-error.js';
import { ScriptedLlmClient } from '../../lib/llm/scripted-llm-client.js';
import { countRequestTokens } from '../../lib/llm/token-count.js';
import { responseText, type LlmRequest, type LlmResponse } from '../../lib/llm/types.js';

const request = (text: string): LlmRequest => ({ model: 'claude-haiku-5-5', max_tokens: 100, messages: [{ role: 'user', content: text }] });
const fixed: LlmResponse = {
  id: 'msg_fixed', model: 'x', role: 'assistant', content: [{ type: 'text', text: 'fixed' }], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 },
};

describe('ScriptedLlmClient', () => {
  it('answers scripted responses in order: whole responses, reply specs, functions of the request', async () => {
    const client = new ScriptedLlmClient({
      responses: [fixed, { text: 'from a spec' }, (req) => ({ text: `echo ${req.messages.length}` }), { tool_use: [{ name: 'Bash', input: { command: 'ls' } }] }],
    });

    expect(await client.createMessage(request('a'))).toEqual(fixed);
    const spec = await client.createMessage(request('b'));
    expect(responseText(spec)).toBe('from a spec');
    expect(spec.id).toMatch(/^msg_scripted_/);
    expect(spec.usage.input_tokens).toBe(countRequestTokens(request('b')));
    expect(responseText(await client.createMessage(request('c')))).toBe('echo 1');
    const tool = await client.createMessage(request('d'));
    expect(tool.stop_reason).toBe('tool_use');
    expect(tool.content).toEqual([{ type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'Bash', input: { command: 'ls' } }]);
    expect(client.remaining).toBe(0);
  });

  it('throws scripted errors: Error objects as given, reply errors as LlmErrors', async () => {
    const client = new ScriptedLlmClient({
      responses: [new Error('boom'), { error: { status: 529, type: 'overloaded_error', message: 'try later' } }],
    });

    await expect(client.createMessage(request('a'))).rejects.toThrow('boom');
    const error = await client.createMessage(request('b')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ status: 529, retryable: true, code: 'llm_overloaded' });
  });

  it('fails clearly when the script runs out and no rules were given', async () => {
    const client = new ScriptedLlmClient({ responses: [{ text: 'only one' }] });
    await client.createMessage(request('a'));

    await expect(client.createMessage(request('b'))).rejects.toMatchObject({
      code: 'llm_script_exhausted',
      message: expect.stringContaining('no scripted response left for call 2'),
    });
  });

  it('answers from rules once the script is used up', async () => {
    const client = new ScriptedLlmClient({ responses: [{ text: 'scripted' }], rules: [{ name: 'r', when: { lastUser: 'ping' }, reply: { text: 'pong' } }] });

    expect(responseText(await client.createMessage(request('x')))).toBe('scripted');
    expect(responseText(await client.createMessage(request('ping')))).toBe('pong');
    client.push({ text: 'pushed' });
    expect(responseText(await client.createMessage(request('ping')))).toBe('pushed');
  });

  it('records every request as it was at call time', async () => {
    const client = new ScriptedLlmClient();
    const req = request('first');
    await client.createMessage(req);
    req.messages.push({ role: 'user', content: 'changed later' });
    await client.createMessage(request('second'));

    expect(client.calls.map((c) => c.messages.length)).toEqual([1, 1]);
    expect(client.calls[1]?.messages[0]?.content).toBe('second');
  });

  it('refuses an already aborted call and records it', async () => {
    const controller = new AbortController();
    controller.abort();
    const client = new ScriptedLlmClient({ responses: [{ text: 'never' }] });

    await expect(client.createMessage(request('a'), { signal: controller.signal })).rejects.toMatchObject({ code: 'llm_aborted', retryable: false });
    expect(client.calls).toHaveLength(1);
    expect(client.remaining).toBe(1);
  });
});
