import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { runNetwork, type RunningNetwork } from '../../src/main/run-network.js';
import { costReport } from '../../src/operations/cost-report.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';

/**
 * A task's budget in a whole network (main, its model gateway, a domain agent as a process, the local
 * model server): a task within its budget completes with what it cost in its result; one whose budget
 * is spent after its first model call ends `failed` with `budget_exceeded`, the spent and the budget in
 * its result; `dan cost`'s counters hold both.
 */
describe('budgets in a running network', () => {
  const prefix = uniquePrefix('budget-net');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let model: LocalModelServer;
  let network: RunningNetwork;
  let workspace: string;
  let watcher: ResultWatcher;
  let subscriber: Redis;

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    model = new LocalModelServer();
    const modelUrl = await model.start();
    workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-budget-ws-'));
    const env: Record<string, string> = {
      REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_WORKSPACE: workspace, DAN_SPAWNER: 'process',
      ANTHROPIC_API_KEY: 'sk-ant-api03-budget-test-key', ANTHROPIC_BASE_URL: modelUrl, DAN_ELF: 'off', DAN_LOG_LEVEL: 'warn',
      DAN_HEARTBEAT_INTERVAL_MS: '300', DAN_HEARTBEAT_TTL_MS: '1500', DAN_SUPERVISE_INTERVAL_MS: '100', DAN_ROLES: 'coder',
      DAN_SPAWN_TIMEOUT_MS: '20000', DAN_DOMAIN_IDLE_MS: '600000', DAN_SHUTDOWN_GRACE_MS: '2000',
    };
    const config = loadConfig({}, env);
    network = await runNetwork({ config, logger: silentLogger, redisUrl: config.redisUrl, env: { ...process.env, ...env } });
    subscriber = redis.duplicate();
    watcher = new ResultWatcher(redis, subscriber, keys, 500);
  }, 60_000);

  afterAll(async () => {
    watcher?.close();
    subscriber?.disconnect();
    await network?.stop();
    await model?.stop();
    await cleanup?.();
    rmSync(workspace, { recursive: true, force: true });
  });

  const run = async (description: string, budgetUsd: number): Promise<{ status: string; output: Record<string, unknown> }> => {
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description, extraMetadata: { budget_usd: budgetUsd, client_id: 'acme' } });
    await watcher.wait(taskId, AbortSignal.timeout(60_000));
    const result = await redis.hgetall(keys.result(taskId));
    return { status: result['status'] ?? '', output: JSON.parse(result['output'] ?? '{}') as Record<string, unknown> };
  };

  it('completes a task within its budget, with its cost per model and worker in the result', async () => {
    const { status, output } = await run('Create a health endpoint', 5);
    expect(status).toBe('completed');
    const cost = output['cost'] as { usd: number; calls: number; by_worker: Record<string, unknown>; budget: { budget_usd: number; spent_usd: number } };
    expect(cost.calls).toBeGreaterThan(0);
    expect(cost.usd).toBeGreaterThan(0);
    // Named by the worker that made each call (the backend's coder is `api`).
    expect(Object.keys(cost.by_worker)).toEqual(['api']);
    expect(cost.budget).toEqual({ budget_usd: 5, spent_usd: cost.usd });
    expect(output['cost_total']).toMatchObject({ usd: cost.usd, calls: cost.calls });
  }, 90_000);

  it('ends a task whose budget is spent budget_exceeded, with the spent and the budget in its result', async () => {
    const { status, output } = await run('Create a status endpoint', 0.000001);
    expect(status).toBe('failed');
    expect(output['failure']).toEqual({ code: 'budget_exceeded', retryable: false });
    const cost = output['cost'] as { calls: number; usd: number; budget_exceeded: { scope: string; budget_usd: number; spent_usd: number } };
    expect(cost.calls).toBe(1);
    expect(cost.budget_exceeded).toEqual({ scope: 'task', budget_usd: 0.000001, spent_usd: cost.usd });
    const report = await costReport(redis, keys, { by: 'client', client: 'acme' });
    expect(report.lines[0]?.key).toBe('acme');
    expect(report.total.calls).toBeGreaterThanOrEqual(2);
  }, 90_000);
});
