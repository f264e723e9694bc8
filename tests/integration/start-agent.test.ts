import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { startAgent } from '../../src/start-agent.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';

let redis: Redis;
let cleanup: () => Promise<void>;
let prefix: string;
let dir: string;

beforeEach(async () => {
  prefix = uniquePrefix('start-agent');
  dir = mkdtempSync(path.join(os.tmpdir(), 'dan-start-agent-'));
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => {
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const configFor = (domain: string) => loadConfig({}, {
  REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DOMAIN_TYPE: domain, DAN_ELF_DIR: path.join(dir, 'elf'),
  DAN_WORKSPACE: path.join(dir, 'ws'), DAN_LLM: 'local', DAN_LOG_LEVEL: 'warn', DAN_SHUTDOWN_GRACE_MS: '500',
});

describe('startAgent', () => {
  it.each([['backend'], ['farm'], ['elf']])('starts a %s agent in this process: registered while running, deregistered once stopped', async (domain) => {
    const keys = new Keys(prefix);
    const agentId = `${domain}-00000001`;
    const agent = await startAgent({ config: configFor(domain), agentId, logger: silentLogger });
    expect(agent.state).toBe('running');
    expect(await redis.smembers(keys.agentsOfDomain(domain))).toEqual([agentId]);
    await agent.stop();
    expect(agent.state).toBe('stopped');
    expect(await agent.done).toEqual({ why: 'stopped', problems: [] });
    expect(await redis.sismember(keys.agentsAll(), agentId)).toBe(0);
  });

  it('refuses a domain no folder defines, naming the fix', async () => {
    await expect(startAgent({ config: configFor('mobile'), agentId: 'mobile-1', logger: silentLogger }))
      .rejects.toThrow(/unknown domain 'mobile'; known domains: .*elf.* \(add a folder under .* to add one\)/);
  });
});
