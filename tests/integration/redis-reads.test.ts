import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FarmStore, recentFarmIds } from '../../lib/farm/farm-store.js';
import { hasHeartbeat, HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import { Keys } from '../../lib/redis/keys.js';
import { PlanStore } from '../../lib/redis/plan-store.js';
import { publishedDomains } from '../../lib/redis/published-domains.js';
import { deadLetterCount, domainsWithPendingQueues } from '../../lib/redis/queue-counts.js';
import { readResultFields, readResultStatus, readResultStatuses, taskLogLength } from '../../lib/redis/result-fields.js';
import { appendLog, submitTask } from '../../lib/redis/task-store.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;

beforeEach(async () => {
  const prefix = uniquePrefix('reads');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => cleanup());

describe('the lib/redis reads and writes src/ uses instead of raw commands', () => {
  it('stores a plan once: a second attempt gets the first plan back, and the CLI reads it', async () => {
    const plans = new PlanStore(redis, keys);
    expect(await plans.read('t1')).toBeUndefined();
    const first = { strategy: 'score', steps: [{ domain: 'backend' }] };
    expect(await plans.storeOnce('t1', first, 60_000)).toEqual({ plan: first, stored: true });
    expect(await plans.storeOnce('t1', { strategy: 'llm', steps: [] }, 60_000)).toEqual({ plan: first, stored: false });
    expect(await plans.read('t1')).toEqual(first);
    // The layout is unchanged: JSON text under dan:plan:{id}, expiring with the retention.
    expect(JSON.parse((await redis.get(keys.plan('t1')))!)).toEqual(first);
    expect(await redis.pttl(keys.plan('t1'))).toBeGreaterThan(0);
  });

  it("reads a result's status, many statuses, every field and the log length", async () => {
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'x' });
    await appendLog(redis, keys, { taskId, agentId: 'a', domain: 'backend', message: 'one' });
    expect(await readResultStatus(redis, keys, taskId)).toBe('pending');
    expect(await readResultStatus(redis, keys, 'missing')).toBeUndefined();
    await redis.hset(keys.result(taskId), 'error', 'it broke');
    expect(await readResultStatuses(redis, keys, [taskId, 'missing'])).toEqual([{ status: 'pending', error: 'it broke' }, {}]);
    expect(await readResultStatuses(redis, keys, [])).toEqual([]);
    expect(await readResultFields(redis, keys, taskId)).toMatchObject({ task_id: taskId, status: 'pending' });
    expect(await taskLogLength(redis, keys, taskId)).toBeGreaterThanOrEqual(1);
  });

  it('counts dead letters and finds the domains with a pending queue', async () => {
    await redis.lpush(keys.dead('backend'), '{"id":"1"}', '{"id":"2"}');
    await redis.lpush(keys.pending('nobody'), '{}');
    await redis.lpush(keys.pending('backend'), '{}');
    expect(await deadLetterCount(redis, keys, 'backend')).toBe(2);
    expect(await deadLetterCount(redis, keys, 'frontend')).toBe(0);
    expect((await domainsWithPendingQueues(redis, keys)).sort()).toEqual(['backend', 'nobody']);
  });

  it('reads the published domain catalog, the registered main and a heartbeat', async () => {
    expect(await publishedDomains(redis, keys)).toEqual([]);
    await redis.hset(keys.domainCatalog(), { frontend: '{}', backend: '{}' });
    expect(await publishedDomains(redis, keys)).toEqual(['backend', 'frontend']);
    const registry = new HeartbeatRegistry(redis, keys, 30_000);
    expect(await registry.mainAgentId()).toBeUndefined();
    await registry.register({ agentId: 'main-12345678', role: 'main', domain: 'main' });
    expect(await registry.mainAgentId()).toBe('main-12345678');
    expect(await hasHeartbeat(redis, keys, 'main-12345678')).toBe(true);
    expect(await hasHeartbeat(redis, keys, 'backend-00000000')).toBe(false);
  });

  it("lists recent farms newest first, reads an agent's lines after an id, and the farm's status", async () => {
    await new FarmStore(redis, keys, 'farm-a').create({ farm_id: 'farm-a', status: 'running' }, 1_000);
    const store = new FarmStore(redis, keys, 'farm-b');
    await store.create({ farm_id: 'farm-b', status: 'running' }, 2_000);
    expect(await recentFarmIds(redis, keys, 20)).toEqual(['farm-b', 'farm-a']);
    expect(await recentFarmIds(redis, keys, 1)).toEqual(['farm-b']);
    await store.agentLine('agent-1', 'first');
    await store.agentLine('agent-1', 'second');
    const all = await store.agentLines('agent-1', '0', 200);
    expect(all.map((e) => e.line)).toEqual(['first', 'second']);
    expect((await store.agentLines('agent-1', all[0]!.id, 200)).map((e) => e.line)).toEqual(['second']);
    expect(await store.status()).toBe('running');
    expect(await new FarmStore(redis, keys, 'farm-none').status()).toBeUndefined();
  });
});
