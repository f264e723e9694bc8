import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { ModelGateway } from '../../lib/llm/model-gateway.js';
import type { GatewayToken, TokenCheck } from '../../lib/redis/gateway-tokens.js';
import { Keys } from '../../lib/redis/keys.js';
import { readMetricCounters, recordModelCall, type ModelCallRecord } from '../../lib/redis/task-metrics.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

const TOKEN = 'dan-gw-test-token';
const tokens: TokenCheck = {
  check: async (token) => (token === TOKEN ? ({ id: 'test', agentId: 'backend-test', issuedAt: 0, standing: false } satisfies GatewayToken) : undefined),
};

/** Model calls metered as they pass the model gateway: the one door every agent's call goes through. */
describe('the model gateway counts each Messages call for the metrics', () => {
  const prefix = uniquePrefix('gw-metrics');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let model: LocalModelServer;
  let gateway: ModelGateway;
  let url: string;
  const calls: ModelCallRecord[] = [];

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    model = new LocalModelServer();
    const upstream = await model.start();
    gateway = new ModelGateway({
      upstream: { baseUrl: upstream, apiKey: 'upstream-key' }, tokens,
      onCall: (call) => {
        calls.push(call);
        void recordModelCall(redis, keys, call);
      },
    });
    url = await gateway.start();
  });

  afterAll(async () => {
    await gateway.stop();
    await model.stop();
    await cleanup();
  });

  const call = (stream: boolean) => fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': TOKEN, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 64, stream, messages: [{ role: 'user', content: 'Say hello to the metrics' }] }),
  });

  it('reads the model and the tokens of a JSON answer, which reaches the caller unchanged', async () => {
    const answer = await call(false);
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { model: string; usage: { input_tokens: number; output_tokens: number } };
    const seen = await until('the JSON call to be counted', async () => calls[0]);
    expect(seen).toMatchObject({ model: body.model, status: '200', tokens: { input: body.usage.input_tokens, output: body.usage.output_tokens } });
    expect(seen.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('reads them from the message_start and message_delta events of a streamed answer, passed on event by event', async () => {
    const answer = await call(true);
    expect(answer.headers.get('content-type')).toContain('text/event-stream');
    const text = await answer.text();
    const delta = text.split('\n').filter((l) => l.startsWith('data:') && l.includes('"message_delta"')).map((l) => JSON.parse(l.slice(5)) as { usage: { output_tokens: number } })[0];
    const start = text.split('\n').filter((l) => l.startsWith('data:') && l.includes('"message_start"')).map((l) => JSON.parse(l.slice(5)) as { message: { model: string; usage: { input_tokens: number } } })[0];
    expect(delta && start).toBeTruthy();
    const seen = await until('the streamed call to be counted', async () => calls[1]);
    expect(seen).toMatchObject({ model: start?.message.model, status: '200', tokens: { input: start?.message.usage.input_tokens, output: delta?.usage.output_tokens } });
  });

  it('keeps the counts in Redis, by model, status and kind, with the durations in buckets', async () => {
    const counters = await until('both calls to reach Redis', async () => {
      const c = await readMetricCounters(redis, keys);
      return c.modelCalls.reduce((n, m) => n + m.count, 0) === 2 ? c : undefined;
    });
    const output = calls.reduce((n, c) => n + (c.tokens.output ?? 0), 0);
    expect(counters.modelTokens).toEqual(expect.arrayContaining([{ model: calls[0]?.model, kind: 'output', count: output }]));
    expect(counters.modelDurations[0]?.durations.buckets.reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('counts no call that was refused before it reached the model, nor a model list', async () => {
    const before = calls.length;
    const refused = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'not-a-token' }, body: '{}' });
    expect(refused.status).toBe(401);
    const models = await fetch(`${url}/v1/models`, { headers: { 'x-api-key': TOKEN } });
    await models.text();
    // One Messages call after them, counted: had either of them been, there would be two.
    await (await call(false)).text();
    await until('the Messages call after them to be counted', async () => calls.length > before);
    expect(calls.length).toBe(before + 1);
  });
});
