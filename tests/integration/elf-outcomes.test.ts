import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElfStores } from '../../lib/elf/elf-stores.js';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import type { FailedTask } from '../../src/elf/elf-outcomes.js';
import { recordFinishedTask } from '../../src/elf/elf-outcomes.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;
let dir: string;
let stores: ElfStores;

beforeEach(async () => {
  const prefix = uniquePrefix('elf-outcomes');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
  dir = mkdtempSync(path.join(os.tmpdir(), 'dan-elf-outcomes-'));
  stores = new ElfStores(dir);
});
afterEach(async () => {
  stores.closeAll();
  rmSync(dir, { recursive: true, force: true });
  await cleanup();
});

/** A failed backend task as its result hash and its `task.finished` event say it; `output` as stored. */
async function failed(taskId: string, error: string, output: Record<string, unknown>): Promise<FailedTask[]> {
  await redis.hset(keys.result(taskId), { task_id: taskId, status: 'failed', error, output: JSON.stringify({ ...output, error }) });
  const postmortems: FailedTask[] = [];
  await recordFinishedTask(
    { type: 'task.finished', task_id: taskId, domain: 'backend', status: 'failed', error, description: 'Seed the users table' },
    { redis, keys, stores, logger: silentLogger, learnsFrom: () => true, onFailed: (f) => postmortems.push(f) },
  );
  return postmortems;
}

describe('what ELF learns from a failed task, by its failure code', () => {
  it('records a cancelled task but learns nothing from it, whatever its error says', async () => {
    expect(await failed('t-cancel', 'stopped by ops: wrong ticket', { failure: { code: 'cancelled', retryable: false } })).toEqual([]);
    expect(stores.get().getOutcome('t-cancel')).toMatchObject({ status: 'failed', error: 'stopped by ops: wrong ticket' });
  });

  it('learns from failed work even when its error text begins with "cancelled"', async () => {
    const postmortems = await failed('t-work', 'cancelled the migration halfway: the table was locked', { failure: { code: 'worker_failed', retryable: false } });
    expect(postmortems.map((p) => p.taskId)).toEqual(['t-work']);
  });

  it('learns nothing from a failing model API, and treats a failure without a code as unknown work', async () => {
    expect(await failed('t-api', 'the model API rate-limited the request', { failure: { code: 'llm_rate_limited', retryable: true } })).toEqual([]);
    expect((await failed('t-old', 'it broke', {})).map((p) => p.taskId)).toEqual(['t-old']);
  });
});
