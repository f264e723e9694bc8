import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicLlmClient } from '../../lib/llm/anthropic-llm-client.js';
import { responseText } from '../../lib/llm/types.js';
import { startMockLlm, type RunningMockLlm } from '../../src/cli/commands/mock-llm.js';

const fixture = (name: string): string => path.resolve('tests/fixtures/llm', name);

function capture(): { out: PassThrough; text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { out, text: () => text };
}

describe('dan mock-llm', () => {
  let running: RunningMockLlm | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints one line with the URL and the rules, and serves the default rules', async () => {
    const { out, text } = capture();
    running = await startMockLlm({ port: 0, host: '127.0.0.1', out });

    expect(text()).toBe(`local model server on ${running.url} (scripted answers; rules: default)\n`);
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const client = new AnthropicLlmClient({ apiKey: 'k', baseURL: running.url, maxRetries: 0 });
    const answer = await client.createMessage({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    expect(responseText(answer)).toContain('local scripted model');
  });

  it('prints JSON with --json', async () => {
    const { out, text } = capture();
    running = await startMockLlm({ port: 0, host: '127.0.0.1', json: true, out });

    expect(JSON.parse(text())).toEqual({ url: running.url, rules: 'default', record: null });
  });

  it('answers from a rules file first and appends every request to the --record file', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dan-mock-llm-'));
    const record = path.join(dir, 'logs', 'requests.jsonl');
    const { out, text } = capture();
    running = await startMockLlm({ port: 0, host: '127.0.0.1', rules: fixture('rules-demo.json'), record, out });
    expect(text()).toContain(`(scripted answers; rules: ${fixture('rules-demo.json')})`);

    const client = new AnthropicLlmClient({ apiKey: 'secret-key', baseURL: running.url, maxRetries: 0 });
    const hello = await client.createMessage({ model: 'claude-haiku-5-5', max_tokens: 10, messages: [{ role: 'user', content: 'Hello, Ada' }] });
    expect(responseText(hello)).toBe('Hello Ada, this is claude-haiku-5-5.');
    const fallback = await client.createMessage({
      model: 'm',
      max_tokens: 10,
      system: [{ type: 'text', text: 'dan-worker-selector\n- api: HTTP endpoints\n- db: tables' }],
      messages: [{ role: 'user', content: 'Task: add a users table' }],
    });
    expect(JSON.parse(responseText(fallback))).toEqual({ workers: ['db'] });
    await running.stop();
    running = undefined;

    const lines = readFileSync(record, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { path: string; rule?: string; status: number; headers: Record<string, string> });
    expect(lines.map((l) => [l.path, l.rule, l.status])).toEqual([
      ['/v1/messages', 'greet', 200],
      ['/v1/messages', 'worker-selector', 200],
    ]);
    expect(readFileSync(record, 'utf8')).not.toContain('secret-key');
  });

  it('refuses a bad rules file, naming the file and each bad rule', async () => {
    const error = await startMockLlm({ port: 0, host: '127.0.0.1', rules: fixture('rules-invalid.json'), out: new PassThrough() }).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'invalid_input', exitCode: 2 });
    const message = (error as Error).message;
    expect(message).toContain(`rules file ${fixture('rules-invalid.json')} is invalid`);
    expect(message).toContain('rule[1] "bad-regex" when.lastUser: not a valid regular expression');
    expect(message).toContain('rule[2] "typo-placeholder" reply: {{woh}} is neither a built-in');
    expect(message).toContain('rule[3] "empty-reply"');
    expect(message).toContain('rule[4] "typo-field"');
    expect(message).not.toContain('rule[0]');
  });

  it('says when the port is taken', async () => {
    running = await startMockLlm({ port: 0, host: '127.0.0.1', out: new PassThrough() });
    const port = Number(new URL(running.url).port);
    const error = await startMockLlm({ port, host: '127.0.0.1', out: new PassThrough() }).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'port_in_use' });
    expect((error as Error).message).toContain(`port ${port} on 127.0.0.1 is in use`);
  });
});
