import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicLlmClient } from '../../lib/llm/anthropic-llm-client.js';
import { attributedLlmClient } from '../../lib/llm/llm-client.js';
import { LlmError } from '../../lib/llm/llm-error.js';
import { DEFAULT_MODEL_PRICES } from '../../lib/llm/model-prices.js';
import { readTaskCost } from '../../lib/redis/cost-counters.js';
import { GatewayTokens, tokenHash } from '../../lib/redis/gateway-tokens.js';
import { Keys } from '../../lib/redis/keys.js';
import { groupHoldings } from '../../lib/spawner/token-issuing-spawner.js';
import { startCostGateway, takenTask as takeTask, type CostGateway } from '../support/cost-gateway.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

const SERVICE = 'dan-frontend-1a2b3c4d';
const MODEL = 'claude-sonnet-5-5';

/**
 * A Swarm service's token at the model gateway, with the real token store and Redis: its replicas
 * (which name themselves after their containers) spend from the tasks of its domain they hold, within
 * those tasks' budgets, and from no task of another domain; a main started again keeps the token the
 * service's spec holds and revokes the rest.
 */
describe('a spawn group token at the model gateway', () => {
  const prefix = uniquePrefix('group-token');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let served: CostGateway;
  let warnings: string[];
  let tokens: GatewayTokens;
  let token: string;
  let url: string;

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    tokens = new GatewayTokens(redis, keys);
    ({ token } = await tokens.issue(SERVICE, 'frontend'));
    served = await startCostGateway(redis, keys, tokens, DEFAULT_MODEL_PRICES);
    ({ url, warnings } = served);
  });

  afterAll(async () => {
    await served.stop();
    await cleanup();
  });

  const takenTask = (taskId: string, domain: string, owner: string, metadata: Record<string, unknown> = {}) => takeTask(redis, keys, taskId, domain, owner, metadata);

  const call = (taskId: string) => attributedLlmClient(new AnthropicLlmClient({ apiKey: token, baseURL: url, maxRetries: 0 }), { taskId, worker: 'w' })
    .createMessage({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] });

  it("charges each replica's calls to the task it holds", async () => {
    await takenTask('group-a', 'frontend', 'frontend-0a1b2c3d');
    await takenTask('group-b', 'frontend', 'frontend-ffff0000');
    await call('group-a');
    await call('group-b');
    expect(await readTaskCost(redis, keys, 'group-a')).toMatchObject({ calls: 1 });
    expect(await readTaskCost(redis, keys, 'group-b')).toMatchObject({ calls: 1 });
  });

  it("holds the replicas to a task's budget: the call after it is spent is refused", async () => {
    await takenTask('group-budget', 'frontend', 'frontend-0a1b2c3d', { budget_usd: 0.000001 });
    await call('group-budget');
    const refused = await call('group-budget').then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(LlmError);
    expect((refused as LlmError).message).toContain('budget');
    expect(await readTaskCost(redis, keys, 'group-budget')).toMatchObject({ calls: 1, budget_exceeded: { scope: 'task' } });
  });

  it('charges nothing to a task of another domain, even one held by an agent named like a replica', async () => {
    await takenTask('group-other', 'backend', 'backend-0a1b2c3d', { budget_usd: 5 });
    await takenTask('group-forged', 'backend', 'frontend-0a1b2c3d', { budget_usd: 5 });
    await call('group-other');
    await call('group-forged');
    expect(await readTaskCost(redis, keys, 'group-other')).toBeUndefined();
    expect(await readTaskCost(redis, keys, 'group-forged')).toBeUndefined();
    expect(warnings.filter((l) => l.includes('names a task its agent does not hold') && l.includes(SERVICE))).toHaveLength(2);
  });

  it('takes a group token whose domains are not a list of domain names (written into Redis by hand) for no token', async () => {
    const forged = 'dan-gw-forged-by-hand';
    await redis.hset(keys.gatewayTokens(), tokenHash(forged), JSON.stringify({ agentId: SERVICE, issuedAt: 0, domains: 'frontend' }));
    await redis.hset(keys.gatewayTokens(), tokenHash(`${forged}-2`), JSON.stringify({ agentId: SERVICE, issuedAt: 0, domains: ['frontend', '../x'] }));
    expect(await tokens.check(forged)).toBeUndefined();
    expect(await tokens.check(`${forged}-2`)).toBeUndefined();
  });

  it("keeps, at a main's start, the token the adopted service's spec holds and revokes its others", async () => {
    const raced = await tokens.issue(SERVICE, 'frontend');
    const gone = await tokens.issue('dan-backend-1a2b3c4d', 'backend');
    const holdings = groupHoldings([{ id: SERVICE, domain: 'frontend', env: { ANTHROPIC_API_KEY: token } }]);
    expect(await tokens.revokeOrphans(holdings)).toBe(2);
    expect(await tokens.check(token)).toMatchObject({ agentId: SERVICE, domains: ['frontend'] });
    expect(await tokens.check(raced.token)).toBeUndefined();
    expect(await tokens.check(gone.token)).toBeUndefined();
    // And the gateway still takes the kept token.
    await takenTask('group-after', 'frontend', 'frontend-0a1b2c3d');
    await call('group-after');
    expect(await readTaskCost(redis, keys, 'group-after')).toMatchObject({ calls: 1 });
  });
});
