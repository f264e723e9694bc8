import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import type { RunningElf } from '../../src/elf/elf-service.js';
import { startElfService } from '../../src/elf/elf-service.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

let elf: RunningElf | undefined;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await elf?.stop();
  elf = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

it('takes over the events a dead ELF read and never acknowledged', async () => {
  const prefix = uniquePrefix('elf-svc');
  const keys = new Keys(prefix);
  const { redis, cleanup } = await connectTestRedis(prefix);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-elf-svc-'));
  cleanups.push(cleanup, () => rmSync(dir, { recursive: true, force: true }));

  // An earlier ELF created the group, read one event and died before acknowledging it.
  await redis.xgroup('CREATE', keys.events(), 'elf', '$', 'MKSTREAM');
  await redis.xadd(keys.events(), '*', 'type', 'task.finished', 'task_id', 'lost-1', 'status', 'completed', 'domain', 'backend', 'error', '', 'at', new Date().toISOString(), 'description', 'Create a health endpoint');
  await redis.xreadgroup('GROUP', 'elf', 'elf-dead0000', 'COUNT', 10, 'STREAMS', keys.events(), '>');
  expect(await redis.xpending(keys.events(), 'elf')).toEqual([1, expect.any(String), expect.any(String), [['elf-dead0000', '1']]]);

  const config = loadConfig({}, { REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_ELF_DIR: dir, DAN_LOG_LEVEL: 'silent', DAN_HEARTBEAT_INTERVAL_MS: '300', DAN_HEARTBEAT_TTL_MS: '1500' });
  elf = await startElfService({ config, agentId: 'elf-live0000', logger: silentLogger, adoptEveryMs: 200 });
  const outcome = await until('the lost event to be learned', async () => elf!.stores.get('default').getOutcome('lost-1'));
  expect(outcome).toMatchObject({ taskId: 'lost-1', domain: 'backend', status: 'completed', description: 'Create a health endpoint' });
  await until('the event to be acknowledged', async () => ((await redis.xpending(keys.events(), 'elf')) as unknown[])[0] === 0);
});
