import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicLlmClient } from '../../lib/llm/anthropic-llm-client.js';
import { until } from '../support/until.js';

// The audit's proxy in front of the model server (EVILGARBAGE, EVILHANG, EVILSSE, EVILSLOW, EVILHUGE),
// played by a small server in this file. The agent's defence is its model client: these calls go
// through it as a worker's do, with the AbortSignal that a task's timeout or cancellation fires.

type Behaviour = (res: http.ServerResponse) => void;
let server: http.Server | undefined;
const timers: NodeJS.Timeout[] = [];

afterEach(async () => {
  for (const timer of timers.splice(0)) clearInterval(timer);
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

const reply = (text: string): string => JSON.stringify({
  id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-5-5', stop_reason: 'end_turn', stop_sequence: null,
  content: [{ type: 'text', text }], usage: { input_tokens: 1, output_tokens: 1 },
});

/** A model server whose request with `marker` in its body is answered by `evil`, and any other normally. */
async function evilServer(marker: string, evil: Behaviour): Promise<{ url: string; requests: () => number; open: () => Promise<number> }> {
  let requests = 0;
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    req.on('end', () => {
      requests += 1;
      if (body.includes(marker)) evil(res);
      else res.writeHead(200, { 'content-type': 'application/json' }).end(reply('normal answer'));
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', () => resolve()));
  const running = server;
  return {
    url: `http://127.0.0.1:${(running.address() as AddressInfo).port}`,
    requests: () => requests,
    open: () => new Promise<number>((resolve, reject) => running.getConnections((error, count) => (error ? reject(error) : resolve(count)))),
  };
}

const client = (url: string, options: { maxReplyBytes?: number } = {}) => new AnthropicLlmClient({ apiKey: 'test', baseURL: url, maxRetries: 2, ...options });
const ask = (llm: AnthropicLlmClient, text: string, signal?: AbortSignal) =>
  llm.createMessage({ model: 'claude-sonnet-5-5', max_tokens: 100, messages: [{ role: 'user', content: text }] }, signal ? { signal } : {});

describe('a model server that misbehaves (audit EVIL*)', () => {
  it('[audit #75] a 200 answer with a broken JSON body fails the call at once, not retried, naming what to check', async () => {
    const model = await evilServer('EVILGARBAGE', (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{garbage'));
    const call = ask(client(model.url), 'Task: EVILGARBAGE api endpoint');
    await expect(call).rejects.toMatchObject({ retryable: false });
    await expect(call).rejects.toThrow(/not a Messages API reply.*ANTHROPIC_BASE_URL/);
    expect(model.requests()).toBe(1);
  });

  const endless: Record<string, Behaviour> = {
    // EVILHANG: headers never come.
    EVILHANG: () => undefined,
    // EVILSSE: an event stream of garbage that never ends.
    EVILSSE: (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      timers.push(setInterval(() => res.write('data: {garbage\n\n'), 10));
    },
    // EVILSLOW: one byte at a time, 10 s apart.
    EVILSLOW: (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      timers.push(setInterval(() => res.write(' '), 10_000));
    },
  };

  it.each(Object.keys(endless))('[audit #76] %s: the call ends when its task is stopped, leaves no socket open, and other calls are answered meanwhile', async (marker) => {
    const model = await evilServer(marker, endless[marker]!);
    const llm = client(model.url);
    const stop = new AbortController();
    const call = ask(llm, `Task: ${marker} api endpoint`, stop.signal);
    await until('the evil request to arrive', async () => model.requests() >= 1);
    expect((await ask(llm, 'Task: api endpoint for health check')).content).toEqual([{ type: 'text', text: 'normal answer' }]);

    stop.abort(new Error('timed out after 40 s'));
    await expect(call).rejects.toMatchObject({ code: 'llm_aborted', retryable: false });
    await until('every socket to the model server to close', async () => (await model.open()) === 0);
  });

  it('[audit #77] EVILHUGE: a 150 MB reply sent without a length is cut off at DAN_MAX_MODEL_REPLY_BYTES, not read whole', async () => {
    const total = 150 * 1024 * 1024;
    let sent = 0;
    const model = await evilServer('EVILHUGE', (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1024 * 1024, 'x');
      const pump = (): void => {
        while (sent < total && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) { res.once('drain', pump); return; }
        }
        if (!res.destroyed) res.end();
      };
      res.write('{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"');
      pump();
    });
    // The default limit, 16 MiB: the agent holds at most that much of a reply.
    const call = ask(client(model.url), 'Task: EVILHUGE api endpoint');
    await expect(call).rejects.toMatchObject({ code: 'llm_error', retryable: false });
    await expect(call).rejects.toThrow(/over the 16777216-byte limit \(DAN_MAX_MODEL_REPLY_BYTES\)/);
    expect(model.requests()).toBe(1);
    // What the server managed to push before the client hung up: the limit plus what sat in socket buffers.
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });
});
