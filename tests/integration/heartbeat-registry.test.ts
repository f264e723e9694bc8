import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger.js';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import { Keys } from '../../lib/redis/keys.js';
import { AgentHeartbeat } from '../../lib/runtime/agent-heartbeat.js';
import { MovableClock } from '../support/movable-clock.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

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
    const clock = new MovableClock(Date.now());
    const registry = new HeartbeatRegistry(redis, keys, 30_000, clock);
    await registry.register({ agentId: 'devops-live0001', role: 'domain', domain: 'devops' });
    await registry.register({ agentId: 'devops-dead0001', role: 'domain', domain: 'devops' });
    await redis.del(keys.heartbeat('devops-dead0001'));
    // A whole expiry after its last beat: the key lapsed rather than being deleted under a live agent.
    clock.advance(30_000);
    await registry.heartbeat([{ agentId: 'devops-live0001', status: 'idle' }]);
    const swept = await registry.sweep();
    expect(swept.map((a) => a.agent_id)).toEqual(['devops-dead0001']);
    expect(await registry.liveDomainAgents('devops')).toEqual(['devops-live0001']);
    expect(await redis.smembers(keys.agentsOfDomain('devops'))).toEqual(['devops-live0001']);
  });
});

describe('a heartbeat key deleted under a live agent [audit #47]', () => {
  it('is not swept before its last beat could lapse, and its next beat makes it live again', async () => {
    const clock = new MovableClock(Date.now());
    const registry = new HeartbeatRegistry(redis, keys, 30_000, clock);
    await registry.register({ agentId: 'backend-11111111', role: 'domain', domain: 'backend' });
    await redis.del(keys.heartbeat('backend-11111111'));
    clock.advance(10_000);
    expect(await registry.sweep()).toEqual([]);
    expect(await redis.sismember(keys.agentsOfDomain('backend'), 'backend-11111111')).toBe(1);
    expect(await registry.heartbeat([{ agentId: 'backend-11111111', status: 'busy' }])).toEqual([]);
    expect(await registry.liveDomainAgents('backend')).toEqual(['backend-11111111']);
  });

  it('is swept once a whole expiry passed without a beat, and so is a beat time in the future', async () => {
    const clock = new MovableClock(Date.now());
    const registry = new HeartbeatRegistry(redis, keys, 30_000, clock);
    await registry.register({ agentId: 'backend-22222222', role: 'domain', domain: 'backend' });
    await registry.register({ agentId: 'backend-33333333', role: 'domain', domain: 'backend' });
    await redis.del(keys.heartbeat('backend-22222222'), keys.heartbeat('backend-33333333'));
    await redis.hset(keys.agentInfo('backend-33333333'), 'last_heartbeat', '2999-01-01T00:00:00.000Z');
    expect((await registry.sweep()).map((a) => a.agent_id)).toEqual(['backend-33333333']);
    clock.advance(30_000);
    expect((await registry.sweep()).map((a) => a.agent_id)).toEqual(['backend-22222222']);
  });
});

describe('after a Redis outage', () => {
  it('registries built per request on one connection share one reconnect listener, and each sees the outage', async () => {
    const clock = new MovableClock(Date.now());
    const before = redis.listenerCount('ready');
    const registries = Array.from({ length: 50 }, () => new HeartbeatRegistry(redis, keys, 3_000, clock, { reconnectGraceMs: 2_000 }));
    expect(redis.listenerCount('ready')).toBe(before + 1);
    await registries[0]?.register({ agentId: 'backend-0000000c', role: 'domain', domain: 'backend' });
    await redis.del(keys.heartbeat('backend-0000000c'));
    let reconnected = false;
    const stop = registries[0]?.onReconnect(() => { reconnected = true; });
    redis.disconnect(true);
    await until('the connection to come back', async () => reconnected && redis.status === 'ready');
    stop?.();
    // A registry built after the outage knows of it too: the grace comes from the connection, not the instance.
    expect(await new HeartbeatRegistry(redis, keys, 3_000, clock, { reconnectGraceMs: 2_000 }).sweep()).toEqual([]);
    expect(await registries[49]?.liveDomainAgents('backend')).toEqual(['backend-0000000c']);
  });

  it('takes nobody for dead until its agents had time to beat again, then sweeps as before', async () => {
    const clock = new MovableClock(Date.now());
    const registry = new HeartbeatRegistry(redis, keys, 3_000, clock, { reconnectGraceMs: 2_000 });
    await registry.register({ agentId: 'backend-0000000a', role: 'domain', domain: 'backend' });
    // Its heartbeat lapsed while Redis was away.
    await redis.del(keys.heartbeat('backend-0000000a'));
    let reconnected = false;
    registry.onReconnect(() => { reconnected = true; });
    redis.disconnect(true);
    await until('the connection to come back', async () => reconnected && redis.status === 'ready');
    expect(await registry.sweep()).toEqual([]);
    expect(await registry.liveDomainAgents('backend')).toEqual(['backend-0000000a']);
    clock.advance(2_000);
    expect(await registry.liveDomainAgents('backend')).toEqual([]);
    // Its last beat is a whole expiry (3 s) old only now: the key lapsed, it was not deleted under it.
    clock.advance(1_000);
    expect((await registry.sweep()).map((a) => a.agent_id)).toEqual(['backend-0000000a']);
    expect(await redis.exists(keys.agentInfo('backend-0000000a'))).toBe(0);
  });

  it('an agent swept while still running rejoins when it may, and stops when it may not', async () => {
    const registry = new HeartbeatRegistry(redis, keys, 30_000);
    const register = () => registry.register({ agentId: 'main-0000000b', role: 'main', domain: 'main' });
    await register();
    let lost = 0;
    let mayRejoin = true;
    const heartbeat = new AgentHeartbeat(registry, 'main-0000000b', 60_000, silentLogger, () => { lost += 1; }, async () => {
      if (!mayRejoin) return false;
      await register();
      return true;
    });
    heartbeat.start();
    await registry.deregister('main-0000000b', 'main', 'main');
    await heartbeat.beat();
    expect(lost).toBe(0);
    expect(await redis.get(keys.agentsMain())).toBe('main-0000000b');
    expect(await redis.exists(keys.agentInfo('main-0000000b'), keys.heartbeat('main-0000000b'))).toBe(2);

    mayRejoin = false;
    await registry.deregister('main-0000000b', 'main', 'main');
    await heartbeat.beat();
    expect(lost).toBe(1);
    expect(await redis.exists(keys.agentInfo('main-0000000b'))).toBe(0);
    heartbeat.stop();
  });
});
