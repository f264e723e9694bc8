import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import { Keys } from '../../lib/redis/keys.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;

beforeEach(async () => {
  const prefix = uniquePrefix('registry');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => cleanup());

describe('HeartbeatRegistry', () => {
  it('registers agents under the protocol keys with a 30 s-style expiring heartbeat', async () => {
    const registry = new HeartbeatRegistry(redis, keys, 30_000);
    await registry.register({ agentId: 'main-12345678', role: 'main', domain: 'main' });
    await registry.register({ agentId: 'backend-abcdef01', role: 'domain', domain: 'backend' });
    await registry.register({ agentId: 'backend-abcdef01-api-1', role: 'worker', domain: 'backend' });

    expect((await redis.smembers(keys.agentsAll())).sort()).toEqual(['backend-abcdef01', 'backend-abcdef01-api-1', 'main-12345678']);
    expect(await redis.smembers(keys.agentsDomains())).toEqual(['backend-abcdef01']);
    expect(await redis.smembers(keys.agentsOfDomain('backend'))).toEqual(['backend-abcdef01']);
    expect(await redis.smembers(keys.agentsWorkers())).toEqual(['backend-abcdef01-api-1']);
    expect(await redis.get(keys.agentsMain())).toBe('main-12345678');
    const info = await redis.hgetall(keys.agentInfo('backend-abcdef01'));
    expect(Object.keys(info).sort()).toEqual(['agent_id', 'container_id', 'created_at', 'domain_type', 'last_heartbeat', 'role', 'status']);
    const ttl = await redis.pttl(keys.heartbeat('backend-abcdef01'));
    expect(ttl).toBeGreaterThan(20_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('never re-creates the info hash of an agent that was deregistered', async () => {
    const registry = new HeartbeatRegistry(redis, keys, 30_000);
    await registry.register({ agentId: 'frontend-00000001', role: 'domain', domain: 'frontend' });
    await registry.deregister('frontend-00000001', 'domain', 'frontend');
    expect(await registry.heartbeat([{ agentId: 'frontend-00000001', status: 'busy' }])).toEqual(['frontend-00000001']);
    expect(await redis.exists(keys.agentInfo('frontend-00000001'), keys.heartbeat('frontend-00000001'))).toBe(0);
    expect(await redis.sismember(keys.agentsAll(), 'frontend-00000001')).toBe(0);
  });

  it('sweeps agents whose heartbeat expired and leaves live ones', async () => {
    const registry = new HeartbeatRegistry(redis, keys, 30_000);
    await registry.register({ agentId: 'devops-live0001', role: 'domain', domain: 'devops' });
    await registry.register({ agentId: 'devops-dead0001', role: 'domain', domain: 'devops' });
    await redis.del(keys.heartbeat('devops-dead0001'));
    const swept = await registry.sweep();
    expect(swept.map((a) => a.agent_id)).toEqual(['devops-dead0001']);
    expect(await registry.liveDomainAgents('devops')).toEqual(['devops-live0001']);
    expect(await redis.smembers(keys.agentsOfDomain('devops'))).toEqual(['devops-live0001']);
  });
});
