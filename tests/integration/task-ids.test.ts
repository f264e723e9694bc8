import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lib/errors.js';
import { isValidTaskId, TASK_ID_RULE_TEXT, taskIdLuaCheck } from '../../lib/protocol/task.js';
import { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { TASK_ID_TABLE } from '../support/task-id-table.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../dist/bundle/cli.mjs');

let network: TestNetwork | undefined;
afterEach(async () => {
  await network?.stop();
  network = undefined;
});

/** Every key under the network's prefix matching `pattern` (a glob after the prefix). */
async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

describe('task ids that would collide with other keys', () => {
  it('dead-letters raw pushes with bad ids, naming the rule, leaves nothing stuck, and keeps serving', async () => {
    network = await startTestNetwork();
    const { redis, keys } = network;
    const cli = (...args: string[]) => execFileSync('redis-cli', ['-u', testRedisUrl(), ...args], { encoding: 'utf8' });
    const bad = ['x:logs', 'has space', 'tab\there', 'k'.repeat(3000), '.hidden', '-dash', 'ü-id', `${'a'.repeat(128)}b`];
    const raws = bad.map((id) => JSON.stringify({ task_id: id, type: 'echo', payload: { description: 'bad id' } }));
    for (const raw of raws) cli('LPUSH', keys.pending('devops'), raw);
    // Broken text with a good id: dead-lettered too, and that task's result says why as data.
    const broken = '{"task_id": "broken-good-id", "payload": ';
    cli('LPUSH', keys.pending('devops'), broken);

    const good = JSON.stringify({ task_id: 'after-bad-ids.1', type: 'echo', payload: { description: 'fine' } });
    cli('LPUSH', keys.pending('devops'), good);
    cli('HSET', keys.result('after-bad-ids.1'), 'task_id', 'after-bad-ids.1', 'status', 'pending');
    cli('PUBLISH', keys.notifications('devops'), good);
    const hash = await network.waitFor('after-bad-ids.1');
    expect(hash['status']).toBe('completed');
    // Its client never writes results:broken-good-id: the broken text waits for that write up to the grace.
    await network.waitFor('broken-good-id');

    const dead = (await redis.lrange(keys.dead('devops'), 0, -1)).map((s) => JSON.parse(s) as Record<string, unknown>);
    expect(dead.map((d) => d['raw']).sort()).toEqual([...raws, broken].sort());
    const brokenResult = await redis.hgetall(keys.result('broken-good-id'));
    expect(brokenResult['status']).toBe('failed');
    expect(JSON.parse(brokenResult['output']!).failure).toEqual({ code: 'invalid_task', retryable: false });
    for (const entry of dead.filter((d) => d['raw'] !== broken)) {
      expect(entry['reason']).toContain(TASK_ID_RULE_TEXT);
      // No id that breaks the rule is recorded as one: no key was built from it.
      expect(entry['task_id']).toBeUndefined();
    }
    for (const id of bad) expect(await redis.exists(keys.result(id), keys.task(id))).toBe(0);

    for (const key of await scanKeys(redis, `${keys.prefix}tasks:active:*`)) expect(await redis.llen(key)).toBe(0);
    for (const key of await scanKeys(redis, `${keys.prefix}dan:leases:*`)) expect(await redis.zcard(key)).toBe(0);
    for (const key of await scanKeys(redis, `${keys.result('*')}`)) {
      if ((await redis.type(key)) === 'hash') expect(await redis.hget(key, 'status')).not.toBe('in_progress');
    }
  });

  it('refuses a bad id from dan send --id with exit 2 and the rule, and queues nothing', async () => {
    network = await startTestNetwork();
    const { redis, keys } = network;
    const run = await runProcess(process.execPath, [bin, 'send', 'devops', 'x', '--type', 'echo', '--id', 'x:logs'], { env: cliEnv(network), timeoutMs: 60_000 });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(TASK_ID_RULE_TEXT);
    expect(await redis.llen(keys.pending('devops'))).toBe(0);
    expect(await redis.exists(keys.result('x:logs'))).toBe(0);
  });
});

describe('the id rule in TypeScript and in Lua', () => {
  const prefix = uniquePrefix('ids');
  const connected = connectTestRedis(prefix);
  afterAll(async () => (await connected).cleanup());

  it('agree on every id of the table', async () => {
    const { redis } = await connected;
    for (const { id, valid } of TASK_ID_TABLE) {
      expect(isValidTaskId(id), id).toBe(valid);
      const lua = Number(await redis.eval(`return ${taskIdLuaCheck('ARGV[1]')} and 1 or 0`, 0, id));
      expect(lua === 1, `Lua on ${JSON.stringify(id.slice(0, 40))}`).toBe(valid);
    }
  });

  it('submitTask refuses a bad id before writing any key, naming the rule', async () => {
    const { redis } = await connected;
    const keys = new Keys(prefix);
    await expect(submitTask(redis, keys, { taskId: 'x:logs', domain: 'backend', description: 'x' })).rejects.toThrow(InvalidInputError);
    await expect(submitTask(redis, keys, { taskId: 'x:logs', domain: 'backend', description: 'x' })).rejects.toThrow(TASK_ID_RULE_TEXT);
    expect(await redis.llen(keys.pending('backend'))).toBe(0);
    expect(await redis.exists(keys.result('x:logs'))).toBe(0);
  });
});
