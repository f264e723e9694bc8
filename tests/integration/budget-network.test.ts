import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { parseRules } from '../../lib/llm/local-server/rules.js';
import type { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { costReport } from '../../src/operations/cost-report.js';
import { listTasks } from '../../src/operations/list-tasks.js';
import { startGatewayNetwork, type GatewayNetwork } from '../support/gateway-network.js';
import { until } from '../support/until.js';

/**
 * A task's budget in a whole network (main, its model gateway, a domain agent as a process, the local
 * model server): a task within its budget completes with what it cost in its result; one whose budget
 * is spent after its first model call ends `failed` with `budget_exceeded`, the spent and the budget in
 * its result; `dan cost`'s counters hold both. ELF's postmortem of a failed task is a task of the
 * memory's domain, for the failed task's client, whose model call is priced to it the same way.
 */
describe('budgets in a running network', () => {
  let net: GatewayNetwork;
  let redis: Redis;
  let keys: Keys;

  beforeAll(async () => {
    // A task whose worker fails the way a missing table would: ELF learns from it with a postmortem.
    const rules = [...parseRules([{ name: 'seed-fails', when: { anyText: 'Seed the users table', hasToolResult: false }, reply: { text: 'relation "users" does not exist', stop_reason: 'refusal' }, times: 1 }], 'test').rules, ...defaultRules()];
    net = await startGatewayNetwork('budget-net', rules, { DAN_ROLES: 'coder' }, ['DAN_ELF_DIR']);
    ({ redis, keys } = net);
  }, 60_000);

  afterAll(async () => {
    await net?.stop();
  });

  const run = async (description: string, budgetUsd: number) => {
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description, extraMetadata: { budget_usd: budgetUsd, client_id: 'acme' } });
    return net.result(taskId, 60_000);
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

  it("runs ELF's postmortem of a failed task as a task of the memory domain, its cost in its result", async () => {
    const { status } = await run('Seed the users table for the demo', 5);
    expect(status).toBe('failed');
    const postmortem = await until('the postmortem task to end', async () => {
      const page = await listTasks(redis, keys, 'acme', { domain: 'elf', statuses: ['completed', 'failed'] }, { limit: 10 });
      return page.tasks.find((t) => (t.description ?? '').startsWith('Postmortem of failed task'));
    }, 60_000);
    expect(postmortem.status).toBe('completed');
    const output = JSON.parse((await redis.hget(keys.result(postmortem.id), 'output')) ?? '{}') as Record<string, unknown>;
    expect(output['heuristic_ids']).toEqual([expect.any(Number)]);
    const cost = output['cost'] as { calls: number; usd: number; by_worker: Record<string, unknown> };
    expect(cost.calls).toBe(1);
    expect(cost.usd).toBeGreaterThan(0);
    expect(Object.keys(cost.by_worker)).toEqual(['postmortem']);
    const byDomain = await costReport(redis, keys, { by: 'domain', client: 'acme' });
    expect(byDomain.lines.find((l) => l.key === 'elf')?.usd).toBeCloseTo(cost.usd, 6);
  }, 90_000);
});
