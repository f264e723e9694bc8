import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicLlmClient } from '../../lib/llm/anthropic-llm-client.js';
import { CostControl } from '../../lib/llm/cost-control.js';
import { attributedLlmClient } from '../../lib/llm/llm-client.js';
import { LlmError } from '../../lib/llm/llm-error.js';
import type { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { ModelGateway } from '../../lib/llm/model-gateway.js';
import { callCostMicroUsd, DEFAULT_MODEL_PRICES, loadPriceTable, priceOf, usdOf } from '../../lib/llm/model-prices.js';
import { createLogger } from '../../lib/logger.js';
import type { GatewayToken, TokenCheck } from '../../lib/redis/gateway-tokens.js';
import { readCostDays, readTaskCost } from '../../lib/redis/cost-counters.js';
import { Keys } from '../../lib/redis/keys.js';
import { readMetricCounters } from '../../lib/redis/task-metrics.js';
import { startCostGateway, takenTask as takeTask, type CostGateway } from '../support/cost-gateway.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

const TOKEN = 'dan-gw-budget-test-token';
const AGENT = 'backend-budget-test';
const tokens: TokenCheck = {
  check: async (token) => (token === TOKEN ? ({ id: 'test', agentId: AGENT, issuedAt: 0, standing: false } satisfies GatewayToken) : undefined),
};
const MODEL = 'claude-sonnet-5-5';

/**
 * Budgets held at the model gateway against the local model server: many workers spending from one
 * task's budget at once pass it by at most one call's cost, and each then gets a refusal the SDK does
 * not retry (budget_exceeded); calls that name a task their agent does not hold, or a model without a
 * price, are made and counted, never charged to that task or as $0.
 */
describe('budgets at the model gateway', () => {
  const prefix = uniquePrefix('budgets');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let served: CostGateway;
  let model: LocalModelServer;
  let warnings: string[];
  let url: string;

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    // The shipped list, less one model, to see an unpriced call.
    const prices = loadPriceTable(JSON.stringify({ 'claude-unlisted-1': { input: 1, output: 1 } }));
    const table = Object.fromEntries(Object.entries(prices).filter(([name]) => name !== 'claude-unlisted-1'));
    served = await startCostGateway(redis, keys, tokens, table);
    ({ model, url, warnings } = served);
  });

  afterAll(async () => {
    await served.stop();
    await cleanup();
  });

  const takenTask = (taskId: string, owner: string, metadata: Record<string, unknown>) => takeTask(redis, keys, taskId, 'backend', owner, metadata);

  const client = () => new AnthropicLlmClient({ apiKey: TOKEN, baseURL: url, maxRetries: 2 });
  const request = (text: string, modelId = MODEL) => ({ model: modelId, max_tokens: 64, messages: [{ role: 'user' as const, content: text }] });

  it('stops eight concurrent workers at the budget, passed by at most one call, each refused with budget_exceeded', async () => {
    const taskId = 'budget-concurrent-1';
    const budgetUsd = 0.003;
    await takenTask(taskId, AGENT, { budget_usd: budgetUsd, client_id: 'acme' });
    const price = priceOf(DEFAULT_MODEL_PRICES, MODEL);
    expect(price).toBeDefined();
    let maxCallMicro = 0;
    const ends = await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      const llm = attributedLlmClient(client(), { taskId, worker: `worker${w}` });
      for (let turn = 0; turn < 200; turn++) {
        try {
          const answer = await llm.createMessage(request(`worker ${w} turn ${turn}: say something short`));
          const u = answer.usage;
          maxCallMicro = Math.max(maxCallMicro, callCostMicroUsd(price!, { input: u.input_tokens, output: u.output_tokens, cache_creation_input: u.cache_creation_input_tokens ?? 0, cache_read_input: u.cache_read_input_tokens ?? 0 }));
        } catch (error) {
          return error;
        }
      }
      return undefined;
    }));
    for (const end of ends) {
      expect(end).toBeInstanceOf(LlmError);
      expect(end).toMatchObject({ code: 'budget_exceeded', retryable: false, status: 402 });
    }
    const cost = await readTaskCost(redis, keys, taskId);
    expect(cost?.calls).toBeGreaterThan(1);
    expect(cost?.budget?.budget_usd).toBe(budgetUsd);
    // Reached, and passed by no more than the dearest single call.
    expect(cost!.usd).toBeGreaterThanOrEqual(budgetUsd);
    expect(cost!.usd - budgetUsd).toBeLessThanOrEqual(usdOf(maxCallMicro));
    expect(cost?.budget_exceeded).toMatchObject({ scope: 'task', budget_usd: budgetUsd });
    // Per worker: every call under the name of the worker that made it.
    expect(Object.keys(cost?.by_worker ?? {}).every((name) => /^worker[0-7]$/.test(name))).toBe(true);
    expect(Object.values(cost?.by_worker ?? {}).reduce((n, w) => n + w.calls, 0)).toBe(cost?.calls);
    expect(cost?.by_model[MODEL]?.calls).toBe(cost?.calls);
    // The 80% line, once, naming the task and the agent.
    const warned = warnings.filter((l) => l.includes('of its task budget'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(taskId);
    expect(warned[0]).toContain(AGENT);
    // The day's counters and /metrics' counter hold the same dollars.
    const day = (await readCostDays(redis, keys, [new Date().toISOString().slice(0, 10)])).filter((r) => r.client === 'acme');
    expect(day).toEqual([expect.objectContaining({ domain: 'backend', model: MODEL, calls: cost!.calls, usd: cost!.usd })]);
    const metrics = await readMetricCounters(redis, keys);
    expect(metrics.modelCost.find((m) => m.model === MODEL)?.usd).toBeCloseTo(cost!.usd, 6);
  }, 120_000);

  it('counts a call naming a task its agent does not hold for the agent only, outside that task and its budget', async () => {
    const taskId = 'budget-not-mine-1';
    await takenTask(taskId, 'someone-else', { budget_usd: 0.000001 });
    const answer = await attributedLlmClient(client(), { taskId, worker: 'intruder' }).createMessage(request('hello'));
    expect(answer.content.length).toBeGreaterThan(0);
    expect(await readTaskCost(redis, keys, taskId)).toBeUndefined();
    expect(warnings.some((l) => l.includes('names a task its agent does not hold') && l.includes(taskId))).toBe(true);
    const day = await readCostDays(redis, keys, [new Date().toISOString().slice(0, 10)]);
    expect(day.find((r) => r.client === 'none' && r.model === MODEL)?.calls).toBeGreaterThanOrEqual(1);
  });

  it("prices a task's calls to it when it has no budget at all", async () => {
    const taskId = 'budget-none-1';
    await takenTask(taskId, AGENT, {});
    await attributedLlmClient(client(), { taskId, worker: 'w' }).createMessage(request('hello'));
    const cost = await readTaskCost(redis, keys, taskId);
    expect(cost).toMatchObject({ calls: 1, unpriced_calls: 0 });
    expect(cost?.usd).toBeGreaterThan(0);
    expect(cost?.budget).toBeUndefined();
  });

  it('makes a call to a model without a price and counts it as unpriced, not as $0, with a warning', async () => {
    const taskId = 'budget-unpriced-1';
    await takenTask(taskId, AGENT, { budget_usd: 1 });
    const answer = await attributedLlmClient(client(), { taskId, worker: 'w' }).createMessage(request('hello', 'claude-unlisted-1'));
    expect(answer.content.length).toBeGreaterThan(0);
    const cost = await readTaskCost(redis, keys, taskId);
    expect(cost).toMatchObject({ calls: 1, unpriced_calls: 1, usd: 0 });
    expect(warnings.some((l) => l.includes('claude-unlisted-1') && l.includes('no price'))).toBe(true);
    const metrics = await readMetricCounters(redis, keys);
    expect(metrics.modelUnpriced).toContainEqual({ model: 'claude-unlisted-1', count: 1 });
  });

  it("stops every task of a client once the client's budget of the day is spent, naming DAN_CLIENT_DAILY_BUDGET_USD", async () => {
    const daily = new CostControl({ redis, keys, prices: DEFAULT_MODEL_PRICES, clientDailyBudgetUsd: 0.002, logger: createLogger({ level: 'silent' }) });
    const dailyGateway = new ModelGateway({ upstream: { baseUrl: model.url!, apiKey: 'upstream-key' }, tokens, costs: daily });
    const dailyUrl = await dailyGateway.start();
    try {
      const tasks = ['daily-1', 'daily-2'];
      for (const taskId of tasks) await takenTask(taskId, AGENT, { client_id: 'globex' });
      const price = priceOf(DEFAULT_MODEL_PRICES, MODEL)!;
      let maxCallMicro = 0;
      const ends = await Promise.all(tasks.map(async (taskId) => {
        const llm = attributedLlmClient(new AnthropicLlmClient({ apiKey: TOKEN, baseURL: dailyUrl, maxRetries: 0 }), { taskId, worker: 'w' });
        for (let turn = 0; turn < 200; turn++) {
          try {
            const u = (await llm.createMessage(request(`${taskId} turn ${turn}`))).usage;
            maxCallMicro = Math.max(maxCallMicro, callCostMicroUsd(price, { input: u.input_tokens, output: u.output_tokens, cache_creation_input: u.cache_creation_input_tokens ?? 0, cache_read_input: u.cache_read_input_tokens ?? 0 }));
          } catch (error) {
            return error;
          }
        }
        return undefined;
      }));
      for (const end of ends) {
        expect(end).toMatchObject({ code: 'budget_exceeded', status: 402 });
        expect((end as Error).message).toContain('DAN_CLIENT_DAILY_BUDGET_USD');
      }
      const costs = await Promise.all(tasks.map((t) => readTaskCost(redis, keys, t)));
      for (const cost of costs) expect(cost?.budget_exceeded).toMatchObject({ scope: 'client', budget_usd: 0.002 });
      const spent = costs.reduce((sum, c) => sum + (c?.usd ?? 0), 0);
      expect(spent).toBeGreaterThanOrEqual(0.002);
      expect(spent - 0.002).toBeLessThanOrEqual(usdOf(maxCallMicro) + 1e-6);
    } finally {
      await dailyGateway.stop();
    }
  }, 60_000);
});
