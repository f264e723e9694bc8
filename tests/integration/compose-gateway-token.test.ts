import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { AnthropicLlmClient } from '../../lib/llm/anthropic-llm-client.js';
import { attributedLlmClient } from '../../lib/llm/llm-client.js';
import { LlmError } from '../../lib/llm/llm-error.js';
import { silentLogger } from '../../lib/logger.js';
import { readTaskCost } from '../../lib/redis/cost-counters.js';
import { Keys } from '../../lib/redis/keys.js';
import { runNetwork, type RunningNetwork } from '../../src/main/run-network.js';
import { runProcess } from '../support/run-process.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';

// Audit row 65: compose's always-on domains, which main does not spawn, called the local model server
// directly. They now use DAN_GATEWAY_COMPOSE_TOKEN, which main registers at start, as the group token
// of the domains of its catalog: their calls are charged to the tasks they hold, within their budgets.
const COMPOSE_TOKEN = `compose-${'a1'.repeat(24)}`;
const NEW_COMPOSE_TOKEN = `compose-${'b2'.repeat(24)}`;

/** One call of the Messages API at the gateway, as a compose domain makes it with its token. */
async function callGateway(url: string, token: string): Promise<{ status: number; message: string }> {
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': token, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 64, messages: [{ role: 'user', content: 'ping' }] }),
  });
  const body = (await res.json()) as { error?: { message: string } };
  return { status: res.status, message: body.error?.message ?? '' };
}

describe("compose's standing token for the always-on domains", () => {
  const prefix = uniquePrefix('gwc');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let workspace: string;
  let network: RunningNetwork | undefined;

  const start = async (composeToken: string): Promise<RunningNetwork> => {
    const env: Record<string, string> = {
      REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_WORKSPACE: workspace, DAN_SPAWNER: 'process',
      DAN_LLM: 'local', DAN_ELF: 'off', DAN_LOG_LEVEL: 'warn', DAN_GATEWAY_COMPOSE_TOKEN: composeToken,
    };
    const config = loadConfig({}, env);
    const base = { ...process.env };
    delete base['ANTHROPIC_API_KEY'];
    network = await runNetwork({ config, logger: silentLogger, redisUrl: config.redisUrl, env: { ...base, ...env } });
    return network;
  };
  const dan = (args: string[]) => runProcess(process.execPath, [path.resolve('dist/bundle/cli.mjs'), ...args], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix },
    timeoutMs: 30_000,
  });

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-gwc-ws-'));
  });

  afterAll(async () => {
    await network?.stop();
    await cleanup?.();
    rmSync(workspace, { recursive: true, force: true });
  });

  /** A task of `domain` taken by `owner`, as the claim script leaves it. */
  async function takenTask(taskId: string, domain: string, owner: string, metadata: Record<string, unknown> = {}): Promise<void> {
    await redis.hset(keys.task(taskId), 'owner', owner, 'domain', domain, 'raw', JSON.stringify({ task_id: taskId, payload: { description: 'x' }, metadata }));
  }

  /** A worker's call for `taskId`, as a compose domain's worker makes it: the standing token, the task named in its header. */
  const workerCall = (url: string, taskId: string) => attributedLlmClient(new AnthropicLlmClient({ apiKey: COMPOSE_TOKEN, baseURL: url, maxRetries: 0 }), { taskId, worker: 'w' })
    .createMessage({ model: 'claude-sonnet-5-5', max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] });

  it("charges a compose domain's calls to the task it holds and refuses the call after its budget is spent", async () => {
    const running = await start(COMPOSE_TOKEN);
    const { url } = running.gateway;
    // Compose names its always-on domains backend-00000001, frontend-00000002, devops-00000003.
    await takenTask('compose-a', 'backend', 'backend-00000001');
    await takenTask('compose-b', 'frontend', 'frontend-00000002');
    await workerCall(url, 'compose-a');
    await workerCall(url, 'compose-b');
    expect(await readTaskCost(redis, keys, 'compose-a')).toMatchObject({ calls: 1 });
    expect(await readTaskCost(redis, keys, 'compose-b')).toMatchObject({ calls: 1 });

    await takenTask('compose-budget', 'devops', 'devops-00000003', { budget_usd: 0.000001 });
    await workerCall(url, 'compose-budget');
    const refused = await workerCall(url, 'compose-budget').then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(LlmError);
    expect((refused as LlmError).message).toContain('budget');
    expect(await readTaskCost(redis, keys, 'compose-budget')).toMatchObject({ calls: 1, budget_exceeded: { scope: 'task' } });

    // No task of a domain main does not offer (the memory, with DAN_ELF=off), nor one held by an agent named after another domain.
    await takenTask('compose-elf', 'elf', 'elf-00000004', { budget_usd: 5 });
    await takenTask('compose-forged', 'backend', 'frontend-00000002', { budget_usd: 5 });
    await workerCall(url, 'compose-elf');
    await workerCall(url, 'compose-forged');
    expect(await readTaskCost(redis, keys, 'compose-elf')).toBeUndefined();
    expect(await readTaskCost(redis, keys, 'compose-forged')).toBeUndefined();

    // Its domains are main's catalog's, listed with it.
    const listed = await dan(['gateway', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ agent_id: 'compose-domains', group_domains: ['backend', 'devops', 'farm', 'frontend'] }]);
    await running.stop();
    network = undefined;
  }, 120_000);

  it('opens the gateway to the token, lists it as compose-domains without showing it, and keeps it revoked across restarts', async () => {
    let running = await start(COMPOSE_TOKEN);
    expect((await callGateway(running.gateway.url, COMPOSE_TOKEN)).status).toBe(200);
    // A main's start sweeps tokens of agents with no heartbeat; the standing one belongs to no heartbeat and stays.
    await running.gateway.tokens.revokeOrphans();
    expect((await callGateway(running.gateway.url, COMPOSE_TOKEN)).status).toBe(200);

    const listed = await dan(['gateway', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ agent_id: string }>).map((r) => r.agent_id)).toEqual(['compose-domains']);
    expect(listed.stdout).not.toContain(COMPOSE_TOKEN);

    const revoked = await dan(['gateway', '--revoke', 'compose-domains']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe('revoked 1 token(s) of compose-domains\n');
    const refused = await callGateway(running.gateway.url, COMPOSE_TOKEN);
    expect(refused.status).toBe(401);
    expect(refused.message).toContain('DAN_GATEWAY_COMPOSE_TOKEN');

    // A restarted main (compose restarts it) does not bring a revoked token back; a new one works.
    await running.stop();
    running = await start(COMPOSE_TOKEN);
    expect((await callGateway(running.gateway.url, COMPOSE_TOKEN)).status).toBe(401);
    await running.stop();
    running = await start(NEW_COMPOSE_TOKEN);
    expect((await callGateway(running.gateway.url, NEW_COMPOSE_TOKEN)).status).toBe(200);

    // A stopped network's tokens open nothing: main takes the standing token out when it stops.
    await running.stop();
    network = undefined;
    const after = await dan(['gateway', '--json']);
    expect(JSON.parse(after.stdout)).toEqual([]);
  }, 120_000);

  it('refuses to start with a token short enough to guess, naming how to make one', () => {
    expect(() => loadConfig({}, { DAN_GATEWAY_COMPOSE_TOKEN: 'short' })).toThrow(/DAN_GATEWAY_COMPOSE_TOKEN.*openssl rand -hex 32/);
  });
});
