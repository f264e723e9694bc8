import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { DeadLetters } from '../../lib/redis/dead-letters.js';
import { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { freePort } from '../../src/cli/local-redis.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
let network: TestNetwork;

const dan = (args: string[], extra: Record<string, string> = {}) =>
  runProcess(process.execPath, [bin, 'dead-letter', ...args], { env: cliEnv(network, extra), timeoutMs: 90_000 });

interface EntryJson { ref: string; id: string | null; domain: string; index: number; dead_lettered_at: string | null; task_id: string | null; reason: string; raw: string; envelope: boolean }

async function listed(extra: string[] = []): Promise<{ total: number; counts: Record<string, number>; entries: EntryJson[] }> {
  const run = await dan(['list', '--json', '-n', '0', ...extra]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
}

async function entryWithRaw(raw: string): Promise<EntryJson | undefined> {
  return (await listed()).entries.find((e) => e.raw === raw);
}

const tag = (): string => randomBytes(4).toString('hex');

beforeAll(async () => { network = await startTestNetwork(); });
afterAll(async () => { await network.stop(); });

describe('dan dead-letter', () => {
  // Pushed the way a careless raw client would: LPUSH only.
  const notJson = `this is not json ${tag()}`;
  const notObject = `[1, 2, "${tag()}"]`;
  const brokenId = `dl-broken-${tag()}`;
  const broken = `{\n  "task_id": "${brokenId}",\n  "payload": {"description": "say \\"hi\\" and`;

  it('lists the malformed pushes a running domain agent dead-lettered, with their reasons and a count per domain', async () => {
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'warm up', type: 'echo' });
    expect((await network.waitFor(taskId))['status']).toBe('completed');
    await redis.lpush(keys.pending('backend'), notJson, notObject, broken);
    await until('three dead letters in backend', async () => (await redis.lrange(keys.dead('backend'), 0, -1)).length >= 3, 30_000);

    const { entries, counts, total } = await listed();
    const mine = [notJson, notObject, broken].map((raw) => entries.find((e) => e.raw === raw));
    expect(mine.every((e) => e?.domain === 'backend' && e.envelope)).toBe(true);
    expect(mine[0]?.reason).toMatch(/must be an object/);
    expect(mine[1]?.reason).toMatch(/must be an object/);
    expect(mine[2]?.reason).toMatch(/^not JSON/);
    expect(mine[2]?.task_id).toBe(brokenId);
    expect(counts['backend']).toBe(await redis.llen(keys.dead('backend')));
    expect(total).toBe(entries.length);
    // The task whose id could be recovered failed with the reason.
    expect(await redis.hget(keys.result(brokenId), 'status')).toBe('failed');

    const text = await dan(['list', '--domain', 'backend']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(notJson);
    // The preview is one line: the pretty-printed input's newlines are folded.
    expect(text.stdout).toContain(`raw:    { "task_id": "${brokenId}", "payload":`);
    expect(text.stdout).toMatch(/\d+ dead letters?: backend \d+/);
  });

  it('shows one entry whole: the reason next to the exact raw input', async () => {
    const run = await dan(['show', brokenId]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/reason {4}not JSON/);
    expect(run.stdout).toContain(`-----\n${broken}\n-----`);
    expect(run.stdout).toMatch(/cannot be retried: it is not JSON/);
    const json = await dan(['show', brokenId, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ raw: broken, task_id: brokenId, domain: 'backend' });
    const missing = await dan(['show', 'no-such-entry']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no dead letter 'no-such-entry'/);
  });

  it('retries a task sent to a domain nobody serves onto --to backend, where it completes', async () => {
    const { redis, keys } = network;
    const taskId = `dl-nosuch-${tag()}`;
    const raw = JSON.stringify({ task_id: taskId, type: 'task_assignment', source: 'test', payload: { description: 'Create a health endpoint', context: {} }, metadata: { priority: 'normal', timeout_seconds: 120 } });
    await redis.lpush(keys.pending('nosuch'), raw);
    await redis.hset(keys.result(taskId), 'task_id', taskId, 'status', 'pending');
    await until('main dead-letters the push to nosuch', async () => (await redis.hget(keys.result(taskId), 'status')) === 'failed', 30_000);
    const entry = await entryWithRaw(raw);
    expect(entry).toMatchObject({ domain: 'nosuch', task_id: taskId });
    expect(entry?.reason).toMatch(/unknown domain 'nosuch'/);

    const back = await dan(['retry', taskId]);
    expect(back.code).toBe(2);
    expect(back.stderr).toMatch(/a domain nobody serves.*pass --to <domain>/);
    const unknown = await dan(['retry', taskId, '--to', 'nowhere']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown domain 'nowhere'; known domains: main, backend/);
    expect(await entryWithRaw(raw)).toBeDefined();

    const retried = await dan(['retry', entry?.ref ?? '', '--to', 'backend']);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toContain(`onto tasks:pending:backend (task ${taskId} is pending again)`);
    const result = await until('the retried task completes', async () => {
      const hash = await redis.hgetall(keys.result(taskId));
      return hash['status'] === 'completed' ? hash : undefined;
    }, 90_000);
    expect(result['domain']).toBe('backend');
    expect(result['error']).toBeUndefined();
    expect(JSON.parse(result['output'] ?? '{}').files_created.length).toBeGreaterThan(0);
    expect(await entryWithRaw(raw)).toBeUndefined();
    expect((await redis.lrange(keys.logs(taskId), 0, -1)).join('\n')).toMatch(/cli: retried from the dead letters of nosuch onto backend/);
  });

  it('refuses to retry input that cannot be a task, with exit 2, and keeps the entry', async () => {
    const entry = await entryWithRaw(notJson);
    expect(entry).toBeDefined();
    const run = await dan(['retry', entry?.ref ?? '']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot retry .*: its input cannot be a task: it is not JSON/);
    expect(run.stderr).toMatch(/dan dead-letter purge/);
    expect(run.stderr).toMatch(/nothing was retried/);
    expect(await entryWithRaw(notJson)).toBeDefined();
    expect(await network.redis.lrange(network.keys.pending('backend'), 0, -1)).not.toContain(notJson);
  });

  it('shows an item that is not an envelope as it was pushed, and purges it by {domain}:{index}', async () => {
    const { redis, keys } = network;
    const junk = `pushed by hand \u0001 ${tag()}`;
    await redis.lpush(keys.dead('backend'), junk);
    const entry = await entryWithRaw(junk);
    expect(entry).toMatchObject({ reason: 'unknown', envelope: false, id: null, ref: `backend:${(await redis.llen(keys.dead('backend'))) - 1}` });
    const shown = await dan(['show', entry?.ref ?? '']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`-----\n${junk}\n-----`);
    const purged = await dan(['purge', entry?.ref ?? '']);
    expect(purged.code, purged.stderr).toBe(0);
    expect(purged.stdout).toMatch(/deleted 1 dead letter/);
    expect(await redis.lrange(keys.dead('backend'), 0, -1)).not.toContain(junk);
  });

  it('purges named entries at once, and --all only with --yes', async () => {
    const { redis, keys } = network;
    const entry = await entryWithRaw(notObject);
    const one = await dan(['purge', entry?.ref ?? '']);
    expect(one.code, one.stderr).toBe(0);
    expect(await entryWithRaw(notObject)).toBeUndefined();

    const left = await redis.llen(keys.dead('backend'));
    expect(left).toBeGreaterThan(0);
    const dry = await dan(['purge', '--all', '--domain', 'backend']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would delete ${left} dead letter`);
    expect(await redis.llen(keys.dead('backend'))).toBe(left);
    const young = await dan(['purge', '--all', '--domain', 'backend', '--older-than', '1d', '--yes']);
    expect(young.code).toBe(0);
    expect(await redis.llen(keys.dead('backend'))).toBe(left);
    const all = await dan(['purge', '--all', '--domain', 'backend', '--yes', '--json']);
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout).deleted).toBe(left);
    expect(await redis.llen(keys.dead('backend'))).toBe(0);
    const bad = await dan(['purge', '--all', '--older-than', 'soon']);
    expect(bad.code).toBe(2);
  });

  it('has --help on every subcommand', async () => {
    for (const sub of ['list', 'show', 'retry', 'purge']) {
      const run = await dan([sub, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`dan dead-letter ${sub}`);
    }
  });

  it('exits 3 when Redis does not answer', async () => {
    const run = await dan(['list'], { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/REDIS_URL is not reachable/);
  });
});

describe('retrying one entry from several places at once', () => {
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let keys: Keys;

  beforeAll(async () => {
    const prefix = uniquePrefix('dl');
    ({ redis, cleanup } = await connectTestRedis(prefix));
    keys = new Keys(prefix);
  });
  afterAll(async () => { await cleanup(); });

  /** An envelope as the queue writes it, for a task nobody consumes under this prefix. */
  async function deadLetter(): Promise<{ id: string; raw: string; taskId: string }> {
    const id = randomBytes(8).toString('hex');
    const taskId = `dl-race-${tag()}`;
    const raw = JSON.stringify({ task_id: taskId, payload: { description: 'race' } });
    await redis.lpush(keys.dead('backend'), JSON.stringify({ id, reason: 'test', raw, domain: 'backend', dead_lettered_at: new Date().toISOString(), task_id: taskId }));
    return { id, raw, taskId };
  }

  it('queues it exactly once when four CLI processes retry it together', async () => {
    for (let round = 0; round < 3; round++) {
      const { id, raw, taskId } = await deadLetter();
      const runs = await Promise.all([0, 1, 2, 3].map(() => runProcess(process.execPath, [bin, 'dead-letter', 'retry', id], {
        env: { ...cliEnv(network), DAN_KEY_PREFIX: keys.prefix }, timeoutMs: 90_000,
      })));
      expect(runs.filter((r) => r.code === 0)).toHaveLength(1);
      expect(runs.every((r) => r.code === 0 || r.code === 1 || r.code === 2)).toBe(true);
      expect((await redis.lrange(keys.pending('backend'), 0, -1)).filter((item) => item === raw)).toHaveLength(1);
      expect(await redis.llen(keys.dead('backend'))).toBe(0);
      expect(await redis.hget(keys.result(taskId), 'status')).toBe('pending');
    }
  });

  it('refuses to retry onto a queue at DAN_MAX_QUEUE_DEPTH with exit 4, as dan send does, and keeps the entry', async () => {
    const { id, raw } = await deadLetter();
    // At least one task waits, so the limit is not 0 (which means none).
    await redis.lpush(keys.pending('backend'), JSON.stringify({ task_id: `dl-filler-${tag()}`, payload: { description: 'wait' } }));
    const waiting = await redis.llen(keys.pending('backend'));
    const retry = (args: string[]) => runProcess(process.execPath, [bin, 'dead-letter', 'retry', ...args], {
      env: { ...cliEnv(network), DAN_KEY_PREFIX: keys.prefix, DAN_MAX_QUEUE_DEPTH: String(waiting) }, timeoutMs: 90_000,
    });
    const named = await retry([id]);
    expect(named.code).toBe(4);
    expect(named.stderr).toMatch(/the backend queue is full: \d+ tasks wait \(DAN_MAX_QUEUE_DEPTH=/);
    const all = await retry(['--all']);
    expect(all.code).toBe(4);
    expect(all.stderr).toMatch(new RegExp(`skipped ${id}: the backend queue is full`));
    expect(await redis.llen(keys.pending('backend'))).toBe(waiting);
    expect((await new DeadLetters(redis, keys).read('backend')).map((e) => e.raw)).toEqual([raw]);
    await redis.del(keys.dead('backend'));
  });

  it('moves it exactly once when twenty connections race on the script', async () => {
    const { raw } = await deadLetter();
    const connections = Array.from({ length: 20 }, () => redis.duplicate());
    try {
      const [entry] = await new DeadLetters(redis, keys).read('backend');
      expect(entry?.raw).toBe(raw);
      const outcomes = await Promise.all(connections.map((c) => new DeadLetters(c, keys).retry(entry!, 'backend')));
      expect(outcomes.filter((o) => o === 'moved')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'gone')).toHaveLength(19);
      expect((await redis.lrange(keys.pending('backend'), 0, -1)).filter((item) => item === raw)).toHaveLength(1);
    } finally {
      for (const c of connections) c.disconnect();
    }
  });
});
