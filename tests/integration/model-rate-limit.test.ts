import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicLlmClient } from '../../lib/llm/anthropic-llm-client.js';
import { GatewayRateLimit } from '../../lib/llm/gateway-rate-limit.js';
import { LlmError, LlmErrorCode } from '../../lib/llm/llm-error.js';
import { rateLimitedLlmClient } from '../../lib/llm/rate-limited-llm-client.js';
import { ScriptedLlmClient } from '../../lib/llm/scripted-llm-client.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { ModelGateway } from '../../lib/llm/model-gateway.js';
import type { GatewayToken, TokenCheck } from '../../lib/redis/gateway-tokens.js';
import { Keys } from '../../lib/redis/keys.js';
import { ModelRateLimit, readModelPauses, type ModelRateLimitOptions } from '../../lib/redis/model-rate-limit.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

const TOKEN = 'dan-rate-test-token';
const tokens: TokenCheck = {
  check: async (token) => (token === TOKEN ? ({ id: 'test', agentId: 'backend-test', issuedAt: 0, standing: false } satisfies GatewayToken) : undefined),
};
const MODEL = 'claude-sonnet-5-5';

/** The most arrivals of `times` (ms) in any window of `windowMs` starting at one of them. */
function mostInAnyWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[j] ?? Infinity) < (sorted[i] as number) - windowMs + 1) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/** Model calls through gateways that share a limit in one Redis, counted where the model sees them. */
describe('the shared model rate limit', () => {
  const prefix = uniquePrefix('rate');
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let networks = 0;
  const started: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
  });
  afterEach(async () => {
    for (const s of started.splice(0).reverse()) await s.stop();
  });
  afterAll(async () => cleanup());

  async function network(limits: Partial<ModelRateLimitOptions>, server: LocalModelServer, gateways = 2): Promise<{ keys: Keys; urls: string[]; upstream: string }> {
    const keys = new Keys(`${prefix}${networks++}:`);
    const upstream = await server.start();
    started.push(server);
    const urls: string[] = [];
    for (let i = 0; i < gateways; i++) {
      const limiter = new ModelRateLimit(redis, keys, { defaults: { rpm: 0, inputTpm: 0, outputTpm: 0 }, windowMs: 60_000, ...limits });
      const gateway = new ModelGateway({ upstream: { baseUrl: upstream, apiKey: 'upstream-key' }, tokens, rateLimit: new GatewayRateLimit({ limiter, maxWaitMs: 30_000 }) });
      urls.push(await gateway.start());
      started.push(gateway);
    }
    return { keys, urls, upstream };
  }

  const agent = (url: string, maxRetries = 4) => new AnthropicLlmClient({ apiKey: TOKEN, baseURL: url, maxRetries });
  const ask = (client: AnthropicLlmClient, text: string) => client.createMessage({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }] });
  const arrivals = (server: LocalModelServer) => server.requests.filter((r) => r.path === '/v1/messages').map((r) => ({ at: Date.parse(r.time), status: r.status, text: JSON.stringify(r.body) }));

  it('keeps agents behind two gateways inside one requests-per-window limit, counted at the model, and every call ends well', async () => {
    const server = new LocalModelServer();
    const { urls } = await network({ defaults: { rpm: 3, inputTpm: 0, outputTpm: 0 }, windowMs: 1_000 }, server);
    const agents = Array.from({ length: 6 }, (_, i) => agent(urls[i % 2] as string));
    // A first call through each gateway opens its connections; the count starts after them.
    await Promise.all(agents.slice(0, 2).map((a) => ask(a, 'warm up')));
    server.clearRequests();
    const answers = await Promise.all(agents.flatMap((a, i) => [ask(a, `first call of agent ${i}`), ask(a, `second call of agent ${i}`)]));
    expect(answers).toHaveLength(12);
    const seen = arrivals(server);
    expect(seen).toHaveLength(12);
    expect(seen.every((r) => r.status === 200)).toBe(true);
    expect(mostInAnyWindow(seen.map((r) => r.at), 1_000)).toBeLessThanOrEqual(3);
  });

  it('holds a call over the input-token limit until earlier ones leave the window, and settles real usage', async () => {
    const keys = new Keys(`${prefix}${networks++}:`);
    const limiter = new ModelRateLimit(redis, keys, { defaults: { rpm: 0, inputTpm: 100, outputTpm: 0 }, windowMs: 1_000 });
    const first = await limiter.tryAdmit(MODEL, { input: 80, output: 10 });
    expect('entry' in first).toBe(true);
    const refused = await limiter.tryAdmit(MODEL, { input: 30, output: 10 });
    expect(refused).toMatchObject({ reason: 'input_tokens' });
    // The first call used less than estimated (most of its prompt came from the cache): the second fits now.
    await limiter.settle(first as { model: string; entry: string }, { input: 20, output: 5 });
    expect('entry' in (await limiter.tryAdmit(MODEL, { input: 30, output: 10 }))).toBe(true);
    // A call larger than the whole limit goes alone, once the window is empty, rather than never.
    const huge = await limiter.admit(MODEL, { input: 500, output: 10 }, 10_000);
    expect('entry' in huge).toBe(true);
  });

  // 529 (overloaded) with retry-after pauses like a 429: the model asked every caller to wait, and the SDKs wait that long.
  it.each([[429, 'rate_limit_error'], [529, 'overloaded_error']] as const)('pauses every agent\'s calls to the model when one gets %i with retry-after', async (status, type) => {
    const server = new LocalModelServer({
      rules: [{ name: 'limited', when: { lastUser: 'trip the limit' }, times: 1, reply: { error: { status, type, message: 'slow down', retry_after_ms: 2_000 } } }],
    });
    const { keys, urls } = await network({}, server);
    // Agent A, behind the first gateway, takes the refusal itself (no SDK retry, to see it).
    await expect(ask(agent(urls[0] as string, 0), 'trip the limit')).rejects.toMatchObject({ status });
    const paused = await until('the model to be paused in Redis', async () => (await readModelPauses(redis, keys)).find((p) => p.model === MODEL));
    expect(paused.remainingMs).toBeGreaterThan(0);
    // Agent B, behind the other gateway, never got it: its call waits for the pause and then succeeds.
    const answer = await ask(agent(urls[1] as string, 0), 'an ordinary call');
    expect(answer.content.length).toBeGreaterThan(0);
    const seen = arrivals(server);
    const refusedAt = seen.find((r) => r.status === status)?.at ?? Number.NaN;
    const laterAt = seen.find((r) => r.text.includes('an ordinary call'))?.at ?? Number.NaN;
    expect(laterAt - refusedAt).toBeGreaterThanOrEqual(2_000);
  });

  it('pauses nothing on a 529 without retry-after: its caller\'s SDK backs off on its own', async () => {
    const server = new LocalModelServer({
      rules: [{ name: 'busy', when: { lastUser: 'busy now' }, times: 1, reply: { error: { status: 529, type: 'overloaded_error', message: 'overloaded' } } }],
    });
    const { keys, urls } = await network({}, server, 1);
    await expect(ask(agent(urls[0] as string, 0), 'busy now')).rejects.toMatchObject({ status: 529 });
    // The next call goes straight through: no pause was put on the model.
    expect((await ask(agent(urls[0] as string, 0), 'an ordinary call')).content.length).toBeGreaterThan(0);
    expect(await readModelPauses(redis, keys)).toEqual([]);
  });

  it('puts the main orchestrator\'s router calls under the same limit and pause', async () => {
    const keys = new Keys(`${prefix}${networks++}:`);
    const limiter = new ModelRateLimit(redis, keys, { defaults: { rpm: 1, inputTpm: 0, outputTpm: 0 }, windowMs: 60_000 });
    const upstreamError = Object.assign(new Error('slow down'), { headers: { 'retry-after': '30' } });
    const scripted = new ScriptedLlmClient({ responses: [{ text: 'routed' }, new LlmError(LlmErrorCode.rateLimited, 'slow down', { status: 429, cause: upstreamError })] });
    const router = rateLimitedLlmClient(scripted, limiter, 0);
    const request = { model: MODEL, max_tokens: 16, messages: [{ role: 'user' as const, content: 'route me' }] };
    expect((await router.createMessage(request)).content).toEqual([{ type: 'text', text: 'routed' }]);
    // The one place of the window is taken: the next call is refused without reaching the model, retryably.
    await expect(router.createMessage(request)).rejects.toMatchObject({ code: LlmErrorCode.rateLimited, retryable: true });
    expect(scripted.calls).toHaveLength(1);
    // A 429 with retry-after the router gets pauses the model for every agent.
    const free = rateLimitedLlmClient(scripted, new ModelRateLimit(redis, keys, { defaults: { rpm: 0, inputTpm: 0, outputTpm: 0 }, windowMs: 60_000 }), 0);
    await expect(free.createMessage(request)).rejects.toMatchObject({ status: 429 });
    const paused = (await readModelPauses(redis, keys)).find((p) => p.model === MODEL);
    expect(paused?.remainingMs).toBeGreaterThan(20_000);
  });

  it('lets the local model server enforce its own limit, whose 429 the agents ride out without failing', async () => {
    const server = new LocalModelServer({ rateLimit: { rpm: 2, windowMs: 1_000 } });
    const { urls, upstream } = await network({}, server, 1);
    const direct = await fetch(`${upstream}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'one' }] }) });
    await direct.arrayBuffer();
    const again = await fetch(`${upstream}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'two' }] }) });
    await again.arrayBuffer();
    const over = await fetch(`${upstream}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'three' }] }) });
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await over.json()).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    // Five agents at once through the gateway: some get the server's 429, the pause holds the others, all end well.
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => ask(agent(urls[0] as string, 6), `agent ${i} asks`)));
    expect(answers).toHaveLength(5);
  });
});
