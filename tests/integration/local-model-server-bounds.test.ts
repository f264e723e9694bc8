import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';

// Audit M9: anyone on loopback could post 30 MB bodies and the server kept every one of them.
let server: LocalModelServer | undefined;
afterEach(async () => server?.stop());

/** Posts `size` bytes to /v1/messages, with or without a Content-Length, and reads the answer. */
function post(url: string, size: number, declareLength: boolean): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(declareLength ? { 'content-length': String(size) } : {}) },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown }));
    });
    // The server may close once it has answered; what it answered is what counts.
    req.on('error', reject);
    req.end(Buffer.alloc(size, 'x'));
  });
}

describe('the local model server and large bodies', () => {
  it.each([true, false])('answers 413 with a JSON error past the cap (Content-Length given: %s)', async (declareLength) => {
    server = new LocalModelServer({ maxBodyBytes: 64 * 1024 });
    const url = await server.start();
    expect(await post(url, 1024 * 1024, declareLength)).toEqual({
      status: 413,
      body: { type: 'error', error: { type: 'request_too_large', message: 'request body is larger than 65536 bytes (DAN_LOCAL_LLM_MAX_BODY_BYTES)' } },
    });
  });

  it('keeps at most maxRecordedBytes of bodies, newest first kept', async () => {
    server = new LocalModelServer({ maxRecordedBytes: 100 * 1024 });
    const url = await server.start();
    for (let i = 0; i < 5; i += 1) expect((await post(url, 40 * 1024, true)).status).toBe(400);
    expect(server.requests).toHaveLength(2);
  });

  it('[audit #59] ten 30 MB bodies from anyone on loopback: each answered 400, and at most 64 MiB of them kept', async () => {
    server = new LocalModelServer();
    const url = await server.start();
    for (let i = 0; i < 10; i += 1) {
      const answer = await post(url, 30 * 1024 * 1024, true);
      expect(answer.status).toBe(400);
    }
    const kept = server.requests.reduce((sum, r) => sum + (typeof r.body === 'string' ? r.body.length : 0), 0);
    expect(kept).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(server.requests.length).toBeLessThan(10);
  }, 60_000);
});
