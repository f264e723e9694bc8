import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AnthropicLlmClient } from '../../lib/llm/anthropic-llm-client.js';
import { LlmError } from '../../lib/llm/llm-error.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { countRequestTokens, countTokens } from '../../lib/llm/token-count.js';
import { responseText, type LlmRequest, type ToolDefinition } from '../../lib/llm/types.js';

const tool = (name: string, properties: Record<string, unknown>): ToolDefinition => ({
  name,
  description: `${name} tool`,
  input_schema: { type: 'object', properties },
});
const workerTools = [
  tool('Read', { file_path: { type: 'string' } }),
  tool('Write', { file_path: { type: 'string' }, content: { type: 'string' } }),
];
const workerSystem = 'You build HTTP APIs.\n---\nWorker: api\nDomain: backend';

function workerRequest(task: string): LlmRequest {
  return {
    model: 'claude-sonnet-5-5',
    max_tokens: 1024,
    system: [{ type: 'text', text: workerSystem, cache_control: { type: 'ephemeral' } }],
    tools: workerTools,
    messages: [{ role: 'user', content: `Task: ${task}` }],
  };
}

describe('LocalModelServer through AnthropicLlmClient (the real SDK)', () => {
  // serveRequests: one test reads the recording over HTTP, which a server serves only when asked.
  const server = new LocalModelServer({ serveRequests: true });
  let url = '';
  let client: AnthropicLlmClient;

  beforeAll(async () => {
    url = await server.start({ port: 0 });
    client = new AnthropicLlmClient({ apiKey: 'sk-test-secret', baseURL: url, maxRetries: 0 });
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    server.setRules(defaultRules());
    server.clearRequests();
  });

  it('answers a plain request with text that says it is the local scripted model', async () => {
    // 64 000 output tokens: more than the SDK lets a non-streamed call wait for without an explicit timeout.
    const response = await client.createMessage({ model: 'claude-haiku-5-5', max_tokens: 64_000, messages: [{ role: 'user', content: 'Hello?' }] });

    expect(response.role).toBe('assistant');
    expect(response.stop_reason).toBe('end_turn');
    expect(responseText(response)).toContain('local scripted model');
    expect(response.model).toBe('claude-haiku-5-5');
  });

  it('runs a tool_use round trip: a Write of the worker file, then the JSON summary', async () => {
    const request = workerRequest('add a health endpoint');
    const first = await client.createMessage(request);

    expect(first.stop_reason).toBe('tool_use');
    const call = first.content.find((b) => b.type === 'tool_use');
    expect(call).toMatchObject({ type: 'tool_use', name: 'Write', input: { file_path: 'src/api/health-endpoint.ts' } });
    expect(call?.type === 'tool_use' && String(call.input['content'])).toContain('add a health endpoint');
    expect(call?.type === 'tool_use' && call.id).toMatch(/^toolu_/);

    const second = await client.createMessage({
      ...request,
      messages: [
        ...request.messages,
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call?.type === 'tool_use' ? call.id : '', content: 'wrote 12 lines' }] },
      ],
    });
    expect(second.stop_reason).toBe('end_turn');
    const summary = JSON.parse(responseText(second)) as { summary: string; files_created: string[] };
    expect(summary.files_created).toEqual(['src/api/health-endpoint.ts']);
    expect(summary.summary).toContain('add a health endpoint');
    expect(server.requests.map((r) => r.rule)).toEqual(['worker-write', 'worker-summary']);
  });

  it('streams the same answer, which the SDK assembles', async () => {
    const streaming = new AnthropicLlmClient({ apiKey: 'sk-test', baseURL: url, maxRetries: 0, streaming: true });
    const response = await streaming.createMessage(workerRequest('add a users table'));

    expect(response.stop_reason).toBe('tool_use');
    expect(responseText(response)).toBe("I'll create src/api/users-table.ts for this task.");
    const call = response.content.find((b) => b.type === 'tool_use');
    expect(call?.type === 'tool_use' && call.input['file_path']).toBe('src/api/users-table.ts');
    expect(server.requests[0]?.body).toMatchObject({ stream: true });
  });

  it('sends the documented event sequence on stream: true', async () => {
    const res = await fetch(`${url}/v1/messages?beta=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...workerRequest('add a health endpoint'), stream: true }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = [...(await res.text()).matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);

    expect(events[0]).toBe('message_start');
    expect(events.slice(-2)).toEqual(['message_delta', 'message_stop']);
    const blocks = events.slice(1, -2).join(' ');
    expect(blocks).toMatch(/^content_block_start( content_block_delta)+ content_block_stop content_block_start( content_block_delta)+ content_block_stop$/);
  });

  it('counts tokens the same way for count_tokens and usage', async () => {
    const request: LlmRequest = { model: 'claude-sonnet-5-5', max_tokens: 50, messages: [{ role: 'user', content: 'How many tokens is this sentence?' }] };
    const counted = (await (await fetch(`${url}/v1/messages/count_tokens`, { method: 'POST', body: JSON.stringify(request) })).json()) as { input_tokens: number };
    const response = await client.createMessage(request);

    expect(counted.input_tokens).toBe(countRequestTokens(request));
    expect(response.usage.input_tokens).toBe(counted.input_tokens);
    expect(response.usage.output_tokens).toBe(countTokens(responseText(response)));
    expect(response.usage.cache_creation_input_tokens).toBe(0);
    expect(response.usage.cache_read_input_tokens).toBe(0);
  });

  it('counts a cache_control prefix as written the first time and read after, and records the marker', async () => {
    // A system prompt no other test sends: the server's cache lives as long as the server.
    const request: LlmRequest = { ...workerRequest('add a metrics endpoint'), system: [{ type: 'text', text: `${workerSystem}\nCache test`, cache_control: { type: 'ephemeral' } }] };
    const first = await client.createMessage(request);
    const second = await client.createMessage(request);
    const total = countRequestTokens(request);

    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(first.usage.cache_read_input_tokens).toBe(0);
    expect(second.usage.cache_creation_input_tokens).toBe(0);
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    expect(first.usage.input_tokens + (first.usage.cache_creation_input_tokens ?? 0)).toBe(total);
    const body = server.requests[0]?.body as LlmRequest;
    expect(body.system?.[0]?.cache_control).toEqual({ type: 'ephemeral' });
  });

  it('surfaces a 429 rule as a retryable LlmError', async () => {
    server.setRules([{ name: 'busy', reply: { error: { status: 429, type: 'rate_limit_error', message: 'slow down' } } }]);
    const error = await client.createMessage(workerRequest('anything')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ status: 429, retryable: true, code: 'llm_rate_limited', errorType: 'rate_limit_error' });
    expect((error as LlmError).message).toContain('slow down');
  });

  it('lets the SDK retry a rate limit itself when retries are allowed', async () => {
    server.setRules([
      { name: 'busy-once', times: 1, reply: { error: { status: 429, type: 'rate_limit_error', message: 'slow down', retry_after_ms: 1 } } },
      ...defaultRules(),
    ]);
    const retrying = new AnthropicLlmClient({ apiKey: 'sk-test', baseURL: url, maxRetries: 2 });
    const response = await retrying.createMessage(workerRequest('add a health endpoint'));

    expect(response.stop_reason).toBe('tool_use');
    expect(server.requests.map((r) => r.status)).toEqual([429, 200]);
  });

  it('turns a 401 into a non-retryable error that points at ANTHROPIC_API_KEY', async () => {
    server.setRules([{ name: 'denied', reply: { error: { status: 401, type: 'authentication_error', message: 'invalid x-api-key' } } }]);
    const error = await client.createMessage(workerRequest('anything')).catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 401, retryable: false, code: 'llm_auth' });
    expect((error as Error).message).toContain('check ANTHROPIC_API_KEY');
  });

  it('names the base URL when nothing listens there', async () => {
    const gone = new LocalModelServer();
    const goneUrl = await gone.start();
    await gone.stop();
    const error = await new AnthropicLlmClient({ apiKey: 'k', baseURL: goneUrl, maxRetries: 0 })
      .createMessage(workerRequest('x'))
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'llm_unreachable', retryable: true, status: undefined });
    expect((error as Error).message).toContain(`cannot reach the model API at ${goneUrl} (connection refused)`);
  });

  it('answers a delay_ms rule late, and a client that gives up meanwhile gets an aborted error', async () => {
    server.setRules([{ name: 'slow', reply: { text: 'late answer', delay_ms: 1_500 } }]);
    let settled = false;
    const late = client.createMessage(workerRequest('slow one')).finally(() => { settled = true; });
    while (server.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(settled).toBe(false);
    expect(responseText(await late)).toBe('late answer');

    const controller = new AbortController();
    const aborted = client.createMessage(workerRequest('slow two'), { signal: controller.signal }).catch((e: unknown) => e);
    while (server.requests.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    expect(await aborted).toMatchObject({ code: 'llm_aborted', retryable: false });
  });

  it('reports an aborted call as a non-retryable LlmError', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await client.createMessage(workerRequest('x'), { signal: controller.signal }).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'llm_aborted', retryable: false });
  });

  it('records requests with secrets redacted, over HTTP too, and clears them', async () => {
    await client.createMessage(workerRequest('add a health endpoint'));
    const recorded = (await (await fetch(`${url}/_dan/requests`)).json()) as { path: string; headers: Record<string, string>; body: unknown }[];

    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.path).toBe('/v1/messages');
    expect(recorded[0]?.headers['authorization'] ?? recorded[0]?.headers['x-api-key']).toBe('[redacted]');
    expect(JSON.stringify(recorded)).not.toContain('sk-test-secret');
    const cleared = (await (await fetch(`${url}/_dan/requests`, { method: 'DELETE' })).json()) as { cleared: number };
    expect(cleared.cleared).toBe(1);
    expect(server.requests).toEqual([]);
  });

  it('answers the other routes the way Messages API clients expect', async () => {
    expect((await fetch(`${url}/`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${url}/`)).status).toBe(200);
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toContain('claude-sonnet-5-5');

    const missing = await fetch(`${url}/v2/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });

    const bad = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": ' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'request body is not valid JSON' } });

    const noMessages = await fetch(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ model: 'm', max_tokens: 5 }) });
    expect(noMessages.status).toBe(400);
    expect(((await noMessages.json()) as { error: { message: string } }).error.message).toContain('messages');
  });
});

describe('a local model server with its own key (the one a network starts for itself)', () => {
  const server = new LocalModelServer({ apiKey: 'local-scripted-model-0123abcd' });
  beforeAll(async () => { await server.start(); });
  afterAll(async () => { await server.stop(); });

  const ask = (apiKey: string) => new AnthropicLlmClient({ apiKey, baseURL: server.url!, maxRetries: 0 })
    .createMessage({ model: 'claude-haiku-5-5', max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] });

  it('answers its key, and refuses any other with 401 naming the gateway, so reaching the port is not enough [audit #18]', async () => {
    const answer = await ask('local-scripted-model-0123abcd');
    expect(responseText(answer)).not.toBe('');
    const refused = await ask('local-scripted-model').then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(LlmError);
    expect((refused as LlmError).status).toBe(401);
    expect((refused as LlmError).message).toMatch(/model gateway/);
    const plain = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(plain.status).toBe(401);
  });
});
