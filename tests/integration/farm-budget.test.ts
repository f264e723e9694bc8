import { rmSync } from 'node:fs';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCostMicroUsd, DEFAULT_MODEL_PRICES, priceOf, usdOf } from '../../lib/llm/model-prices.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { startGatewayNetwork, type GatewayNetwork } from '../support/gateway-network.js';
import { farmRepo, farmRules } from './farm-fixture.js';

/**
 * A farm's budget in a whole network (main, its model gateway, the farm domain as a process, three
 * SDK-runtime agents, the local model server): the agents' calls are priced to the farm's task
 * through the gateway, as any worker's are, and spend from its one budget together. Once a call is
 * refused the farm stops, failed budget_exceeded, and what it spent passed the budget by no more than
 * one call's cost. A farm with no budget carries what it cost in its result.
 */
describe("a farm's budget, shared by its agents", () => {
  let net: GatewayNetwork;

  beforeAll(async () => {
    net = await startGatewayNetwork('farm-budget', farmRules(), {
      DAN_ELF: 'off', DAN_FARM_ROOTS: os.tmpdir(), DAN_FARM_RESTART_BASE_MS: '200', DAN_FARM_RESTART_MAX_MS: '500',
    }, ['DAN_FARM_DIR']);
  }, 60_000);

  afterAll(async () => {
    await net?.stop();
  });

  const farm = async (budgetUsd?: number) => {
    const repo = farmRepo();
    const { taskId } = await submitTask(net.redis, net.keys, {
      domain: 'farm', description: 'Fix every lint problem', timeoutSeconds: 300,
      context: { path: repo, agent_count: 3, problems_command: 'node check.mjs', runtime: 'sdk' },
      ...(budgetUsd !== undefined ? { extraMetadata: { budget_usd: budgetUsd } } : {}),
    });
    try {
      return await net.result(taskId, 240_000);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  };

  /** The dearest model call the local server answered so far, in dollars, at the shipped prices. */
  const dearestCallUsd = (): number => {
    let most = 0;
    for (const r of net.model.requests) {
      const u = r.usage;
      const modelId = (r.body as { model?: string } | null)?.model ?? '';
      const price = priceOf(DEFAULT_MODEL_PRICES, modelId);
      if (!u || !price) continue;
      most = Math.max(most, callCostMicroUsd(price, { input: u.input_tokens, output: u.output_tokens, cache_creation_input: u.cache_creation_input_tokens ?? 0, cache_read_input: u.cache_read_input_tokens ?? 0 }));
    }
    return usdOf(most);
  };

  type Cost = { usd: number; calls: number; unpriced_calls: number; budget?: { budget_usd: number; spent_usd: number }; budget_exceeded?: { scope: string } };

  it('carries what a farm cost in its result, every agent call priced to the farm', async () => {
    const { status, output } = await farm();
    expect(status).toBe('completed');
    const cost = output['cost'] as Cost;
    const priced = net.model.requests.filter((r) => r.path === '/v1/messages' && r.usage).length;
    expect(cost.calls).toBe(priced);
    expect(cost.unpriced_calls).toBe(0);
    expect(cost.usd).toBeGreaterThan(0);
    expect(output['cost_total']).toMatchObject({ usd: cost.usd, calls: cost.calls });
  }, 300_000);

  it('stops the farm once its budget is spent, passed by at most one call, failed budget_exceeded', async () => {
    const spentBefore = net.model.requests.length;
    // A fraction of what the whole farm cost above: the agents spend it together, then are refused.
    const first = dearestCallUsd();
    const budgetUsd = Math.max(0.000001, Math.round(first * 3 * 1e6) / 1e6);
    const { status, error, output } = await farm(budgetUsd);
    expect(status).toBe('failed');
    expect(error).toMatch(/farm's budget of \$[\d.]+ is spent/);
    expect(output['failure']).toEqual({ code: 'budget_exceeded', retryable: false });
    const cost = output['cost'] as Cost;
    expect(cost.budget_exceeded).toMatchObject({ scope: 'task' });
    expect(cost.budget?.budget_usd).toBe(budgetUsd);
    expect(cost.calls).toBeGreaterThan(1);
    expect(cost.usd).toBeGreaterThanOrEqual(budgetUsd);
    expect(cost.usd - budgetUsd).toBeLessThanOrEqual(dearestCallUsd() + 1e-6);
    expect(net.model.requests.length).toBeGreaterThan(spentBefore);
  }, 300_000);
});
