import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { currentMain, publishDomainCatalog } from '../../lib/redis/domain-catalog.js';
import { EventConsumer, type StreamFields } from '../../lib/redis/event-consumer.js';
import { Keys } from '../../lib/redis/keys.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;
const opened: Redis[] = [];

beforeEach(async () => {
  const prefix = uniquePrefix('events');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => {
  for (const connection of opened.splice(0)) connection.disconnect();
  await cleanup();
});

async function consumer(name: string, adoptEveryMs = 60_000) {
  const blocking = await connectRedis(testRedisUrl(), { blocking: true });
  opened.push(blocking);
  return new EventConsumer({ redis, blocking, stream: keys.events(), group: 'elf', consumer: name, logger: silentLogger, adoptEveryMs });
}

describe('EventConsumer', () => {
  it('reads entries added before the group existed and while it runs, acknowledging each once handled', async () => {
    await redis.xadd(keys.events(), '*', 'type', 'task.finished', 'task_id', 'early');
    const seen: StreamFields[] = [];
    const reader = await consumer('elf-1');
    const stop = new AbortController();
    const running = reader.run(async (fields) => { seen.push(fields); }, stop.signal);
    await until('the early entry', async () => seen.length === 1);
    await redis.xadd(keys.events(), '*', 'type', 'task.finished', 'task_id', 'late');
    await until('the late entry', async () => seen.length === 2);
    stop.abort();
    await running;
    expect(seen.map((f) => f['task_id'])).toEqual(['early', 'late']);
    const pending = (await redis.xpending(keys.events(), 'elf')) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
  });

  it('takes over what a consumer that died read and never acknowledged', async () => {
    await reader0Reads();
    const seen: string[] = [];
    const heir = await consumer('elf-2', 1);
    await heir.adoptAbandoned(async (fields) => { seen.push(fields['task_id']!); });
    expect(seen).toEqual(['orphan']);
    const pending = (await redis.xpending(keys.events(), 'elf')) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
  });

  /** A consumer that reads one entry and dies before acknowledging it. */
  async function reader0Reads(): Promise<void> {
    const dead = await consumer('elf-dead');
    await dead.ensureGroup();
    await redis.xadd(keys.events(), '*', 'type', 'task.finished', 'task_id', 'orphan');
    await redis.xreadgroup('GROUP', 'elf', 'elf-dead', 'COUNT', 10, 'STREAMS', keys.events(), '>');
    // Taken over only once idle for at least the heir's adoptEveryMs (1 ms): on a quick machine the heir
    // could otherwise ask in the same millisecond as the read, and rightly take nothing.
    await until('the read entry to be idle', async () => {
      const [entry] = (await redis.xpending(keys.events(), 'elf', '-', '+', 1)) as [string, string, number, number][];
      return entry !== undefined && entry[2] >= 2;
    });
  }
});

describe('the domain catalog', () => {
  it('replaces what was published with the domains given, as outside clients read them', async () => {
    await redis.hset(keys.domainCatalog(), 'gone', '{}');
    await publishDomainCatalog(redis, keys, [{ name: 'backend', description: 'APIs', workers: ['api'] }, { name: 'elf', description: 'memory', workers: [] }]);
    expect(await redis.hgetall(keys.domainCatalog())).toEqual({
      backend: JSON.stringify({ description: 'APIs', workers: ['api'] }),
      elf: JSON.stringify({ description: 'memory', workers: [] }),
    });
  });

  it('says which main orchestrator holds the seat, with what it registered', async () => {
    expect(await currentMain(redis, keys)).toBeUndefined();
    await redis.set(keys.agentsMain(), 'main-1');
    await redis.hset(keys.agentInfo('main-1'), 'pid', '42', 'host', 'here');
    expect(await currentMain(redis, keys)).toEqual({ agentId: 'main-1', info: { pid: '42', host: 'here' } });
  });
});
