import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bearerToken, ModelGateway } from '../../lib/llm/model-gateway.js';
import { upstreamUrl } from '../../lib/llm/model-gateway-forward.js';
import { tokenHash, type GatewayToken, type TokenCheck } from '../../lib/redis/gateway-tokens.js';

const REAL_KEY = 'sk-ant-api03-TESTSECRET-unit';

/** Live tokens in a map, as the Redis store keeps them: by hash. */
class MapTokens implements TokenCheck {
  readonly live = new Map<string, GatewayToken>();
  add(token: string, agentId: string): void {
    this.live.set(tokenHash(token), { id: tokenHash(token).slice(0, 12), agentId, issuedAt: 1, standing: false });
  }
  async check(token: string): Promise<GatewayToken | undefined> {
    return this.live.get(tokenHash(token));
  }
}

interface Seen { method: string; url: string; key: string | undefined; auth: string | undefined; bytes: number }

/** A stand-in for the model API: records what reached it, answers JSON, or a stream held open by `release`. */
function startUpstream(): Promise<{ url: string; seen: Seen[]; release: () => void; server: http.Server }> {
  const seen: Seen[] = [];
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => { release = resolve; });
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => { bytes += chunk.length; });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', key: req.headers['x-api-key'] as string | undefined, auth: req.headers.authorization, bytes });
      if (req.url?.includes('stream')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message_start\ndata: {}\n\n');
        void held.then(() => res.end('event: message_stop\ndata: {}\n\n'));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'message', content: [{ type: 'text', text: 'hi' }] }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/prefix`, seen, release: () => release(), server });
  }));
}

let upstream: Awaited<ReturnType<typeof startUpstream>>;
let tokens: MapTokens;
let gateway: ModelGateway;
let url: string;

beforeEach(async () => {
  upstream = await startUpstream();
  tokens = new MapTokens();
  tokens.add('dan-gw-good', 'backend-0000aaaa');
  gateway = new ModelGateway({ upstream: { baseUrl: upstream.url, apiKey: REAL_KEY }, tokens, maxBodyBytes: 64 * 1024 });
  url = await gateway.start();
});

afterEach(async () => {
  await gateway.stop();
  upstream.server.closeAllConnections();
  await new Promise((resolve) => upstream.server.close(resolve));
});

async function call(path: string, headers: Record<string, string>, body: string | null = '{}', method = 'POST'): Promise<{ status: number; json: { error?: { type: string; message: string } } }> {
  const res = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body === null ? {} : { body }) });
  return { status: res.status, json: (await res.json()) as { error?: { type: string; message: string } } };
}

describe('the model gateway checks tokens', () => {
  it('answers 401 naming the fix to a call without a token, and forwards nothing', async () => {
    const answer = await call('/v1/messages', {});
    expect(answer.status).toBe(401);
    expect(answer.json.error?.message).toMatch(/needs a token .*ANTHROPIC_API_KEY .*main orchestrator/);
    expect(upstream.seen).toEqual([]);
  });

  it('answers 401 to a made-up token and to a revoked one', async () => {
    const madeUp = await call('/v1/messages', { 'x-api-key': 'dan-gw-made-up' });
    expect(madeUp).toMatchObject({ status: 401, json: { error: { type: 'authentication_error' } } });
    expect(madeUp.json.error?.message).toMatch(/unknown or revoked.*start the agent again/);
    expect((await call('/v1/messages', { 'x-api-key': 'dan-gw-good' })).status).toBe(200);
    tokens.live.clear();
    expect((await call('/v1/messages', { 'x-api-key': 'dan-gw-good' })).status).toBe(401);
    expect(upstream.seen).toHaveLength(1);
  });

  it('forwards a live token\'s call with the real key in its place, under the upstream\'s path, query kept', async () => {
    expect((await call('/v1/messages?beta=true', { 'x-api-key': 'dan-gw-good' })).status).toBe(200);
    expect((await call('/v1/messages/count_tokens', { authorization: 'Bearer dan-gw-good' })).status).toBe(200);
    expect((await call('/v1/models', { 'x-api-key': 'dan-gw-good' }, null, 'GET')).status).toBe(200);
    expect(upstream.seen.map((s) => [s.method, s.url, s.key, s.auth])).toEqual([
      ['POST', '/prefix/v1/messages?beta=true', REAL_KEY, undefined],
      ['POST', '/prefix/v1/messages/count_tokens', REAL_KEY, undefined],
      ['GET', '/prefix/v1/models', REAL_KEY, undefined],
    ]);
  });

  it('forwards only the model\'s calls', async () => {
    const answer = await call('/v1/files', { 'x-api-key': 'dan-gw-good' });
    expect(answer.status).toBe(404);
    expect(answer.json.error?.message).toMatch(/forwards only POST \/v1\/messages/);
    expect(upstream.seen).toEqual([]);
  });

  it.each([true, false])('answers 413 to a body over the cap (Content-Length given: %s)', async (declared) => {
    const big = 'x'.repeat(256 * 1024);
    const body = declared ? big : new Blob([big]).stream();
    const res = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'dan-gw-good' }, body, ...(declared ? {} : { duplex: 'half' }) } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('request body is larger than 65536 bytes (DAN_GATEWAY_MAX_BODY_BYTES)');
    expect(upstream.seen.filter((s) => s.bytes > 64 * 1024)).toEqual([]);
  });

  it('passes a stream on event by event: the first event arrives while the upstream still holds the rest', async () => {
    const res = await fetch(`${url}/v1/messages?stream`, { method: 'POST', headers: { 'x-api-key': 'dan-gw-good' }, body: '{}' });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('message_start');
    upstream.release();
    let rest = '';
    for (let part = await reader.read(); !part.done; part = await reader.read()) rest += new TextDecoder().decode(part.value);
    expect(rest).toContain('message_stop');
  });
});

describe('gateway helpers', () => {
  it('reads the token from x-api-key or a Bearer header', () => {
    expect(bearerToken({ 'x-api-key': 'a' })).toBe('a');
    expect(bearerToken({ authorization: 'Bearer b' })).toBe('b');
    expect(bearerToken({ authorization: 'Basic c' })).toBeUndefined();
  });

  it('keeps the upstream\'s path prefix', () => {
    expect(upstreamUrl('https://api.anthropic.com', '/v1/messages').href).toBe('https://api.anthropic.com/v1/messages');
    expect(upstreamUrl('http://proxy:8080/anthropic/', '/v1/messages?beta=true').href).toBe('http://proxy:8080/anthropic/v1/messages?beta=true');
  });
});
