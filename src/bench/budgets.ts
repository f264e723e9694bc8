import { randomUUID } from 'node:crypto';
import { AnthropicLlmClient } from '../../lib/llm/anthropic-llm-client.js';
import { CostControl } from '../../lib/llm/cost-control.js';
import { attributedLlmClient } from '../../lib/llm/llm-client.js';
import { ModelGateway } from '../../lib/llm/model-gateway.js';
import { callCostMicroUsd, DEFAULT_MODEL_PRICES, priceOf, usdOf } from '../../lib/llm/model-prices.js';
import { silentLogger } from '../../lib/logger.js';
import { readTaskCost } from '../../lib/redis/cost-counters.js';
import type { GatewayToken, TokenCheck } from '../../lib/redis/gateway-tokens.js';
import { Keys } from '../../lib/redis/keys.js';
import { TaskQueue } from '../../lib/redis/task-queue.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { BenchEnv } from './bench-network.js';

/** What the budgets scenario measured: over every task, the most any budget was passed by, beside the dearest single call. */
export interface BudgetsResult {
  tasks: number;
  workers_per_task: number;
  calls: number;
  refused_workers: number;
  max_overspend_usd: number;
  max_call_usd: number;
  /** Tasks whose spending passed their budget by more than their own dearest call (goal: 0). */
  over_by_more_than_one_call: number;
}

const MODEL = 'claude-sonnet-5-5';
const AGENT = 'bench-budgets-agent';
const DOMAIN = 'bench-budgets';
const TOKEN = `dan-gw-bench-${randomUUID()}`;

/**
 * Budgets that stop work, measured: `tasks` tasks with random budgets ($0.0005 to $0.005), each spent
 * by `workers` concurrent workers through a model gateway (prices and budgets on, in this process)
 * against the bench's local model server until every worker is refused. The check-and-reserve is one
 * Redis script, so no task should pass its budget by more than one call's cost.
 */
export async function measureBudgets(env: BenchEnv, tasks: number, workers: number): Promise<BudgetsResult> {
  const keys = new Keys(`bench-budgets-${randomUUID().slice(0, 8)}:`);
  const tokens: TokenCheck = { check: async (t) => (t === TOKEN ? ({ id: 'bench', agentId: AGENT, issuedAt: 0, standing: false } satisfies GatewayToken) : undefined) };
  const costs = new CostControl({ redis: env.redis, keys, prices: DEFAULT_MODEL_PRICES, logger: silentLogger });
  const gateway = new ModelGateway({ upstream: { baseUrl: env.modelUrl, apiKey: 'bench' }, tokens, costs, logger: silentLogger });
  const url = await gateway.start();
  const queue = new TaskQueue(env.redis, keys, { domain: DOMAIN, agentId: AGENT, leaseMs: 600_000, retentionMs: 3_600_000, maxAttempts: 1 });
  const price = priceOf(DEFAULT_MODEL_PRICES, MODEL);
  if (!price) throw new Error(`the shipped price table has no price for ${MODEL}`);
  const result: BudgetsResult = { tasks, workers_per_task: workers, calls: 0, refused_workers: 0, max_overspend_usd: 0, max_call_usd: 0, over_by_more_than_one_call: 0 };
  try {
    // Ten tasks at a time: enough spending at once to race, without starving a 2-core machine.
    for (let start = 0; start < tasks; start += 10) {
      await Promise.all(Array.from({ length: Math.min(10, tasks - start) }, async () => {
        const budgetUsd = Math.round((0.0005 + Math.random() * 0.0045) * 1e6) / 1e6;
        // Queued and claimed as any task: the gateway believes a worker's task header only for a task its agent holds.
        const { taskId } = await submitTask(env.redis, keys, { domain: DOMAIN, description: 'spend until refused', extraMetadata: { budget_usd: budgetUsd } });
        const [claimed] = await queue.claim(1);
        if (claimed?.taskId === undefined) throw new Error(`the bench's budget task ${taskId} could not be claimed`);
        let maxCallMicro = 0;
        await Promise.all(Array.from({ length: workers }, async (_, w) => {
          const llm = attributedLlmClient(new AnthropicLlmClient({ apiKey: TOKEN, baseURL: url, maxRetries: 0 }), { taskId: claimed.taskId, worker: `w${w}` });
          for (let turn = 0; turn < 500; turn++) {
            try {
              const u = (await llm.createMessage({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: `task ${claimed.taskId} worker ${w} turn ${turn}` }] })).usage;
              maxCallMicro = Math.max(maxCallMicro, callCostMicroUsd(price, { input: u.input_tokens, output: u.output_tokens, cache_creation_input: u.cache_creation_input_tokens ?? 0, cache_read_input: u.cache_read_input_tokens ?? 0 }));
            } catch {
              result.refused_workers += 1;
              return;
            }
          }
        }));
        const cost = await readTaskCost(env.redis, keys, claimed.taskId);
        // Its own budget, as kept: tasks claimed at once may come back in another order than they were sent.
        const over = (cost?.usd ?? 0) - (cost?.budget?.budget_usd ?? budgetUsd);
        result.calls += cost?.calls ?? 0;
        result.max_overspend_usd = Math.max(result.max_overspend_usd, Math.round(over * 1e6) / 1e6);
        result.max_call_usd = Math.max(result.max_call_usd, usdOf(maxCallMicro));
        if (over > usdOf(maxCallMicro)) result.over_by_more_than_one_call += 1;
      }));
    }
  } finally {
    // The bench's Redis is its own and goes when it ends: the keys under this prefix go with it.
    await gateway.stop();
  }
  return result;
}
