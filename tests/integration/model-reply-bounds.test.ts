import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicLlmClient } from '../../lib/llm/anthropic-llm-client.js';

// Audit #77 (EVILHUGE): a model server answered 150 MB and the agent grew to 1.24 GB reading it.
let server: http.Server | undefined;
afterEach(async () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** A server that answers every request with a valid Messages reply padded to about `size` bytes. */
async function hugeModel(size: number, declareLength: boolean): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  server = http.createServer((req, res) => {
    requests += 1;
    req.resume();
    const body = JSON.stringify({
      id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-5-5', stop_reason: 'end_turn', stop_sequence: null,
      content: [{ type: 'text', text: 'x'.repeat(size) }], usage: { input_tokens: 1, output_tokens: 1 },
    });
    res.writeHead(200, { 'content-type': 'application/json', ...(declareLength ? { 'content-length': String(Buffer.byteLength(body)) } : {}) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

const ask = (url: string, maxReplyBytes: number) => new AnthropicLlmClient({ apiKey: 'test', baseURL: url, maxRetries: 2, maxReplyBytes })
  .createMessage({ model: 'claude-sonnet-5-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });

describe('model replies over DAN_MAX_MODEL_REPLY_BYTES [audit #77]', () => {
  it.each([true, false])('fail once, not retried, naming the setting (Content-Length given: %s)', async (declareLength) => {
    const model = await hugeModel(2 * 1024 * 1024, declareLength);
    const call = ask(model.url, 64 * 1024);
    await expect(call).rejects.toMatchObject({ code: 'llm_error', retryable: false });
    await expect(call).rejects.toThrow(/^the model's reply was .* over the 65536-byte limit \(DAN_MAX_MODEL_REPLY_BYTES\)/);
    expect(model.requests()).toBe(1);
  });

  it('pass under the limit', async () => {
    const model = await hugeModel(1000, true);
    const reply = await ask(model.url, 64 * 1024);
    expect(reply.content).toEqual([{ type: 'text', text: 'x'.repeat(1000) }]);
  });
});
