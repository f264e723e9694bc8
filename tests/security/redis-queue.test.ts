import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TASK_ID_RULE_TEXT } from '../../lib/protocol/task.js';
import { Keys } from '../../lib/redis/keys.js';
import { TaskQueue, type ClaimedTask } from '../../lib/redis/task-queue.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

/**
 * The audit's raw Redis pushes and key deletions (section 2, "Redis protocol abuse"), replayed on one
 * domain's queue: what anyone who reaches Redis can send, and what a client then finds in its result.
 */
let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;

const NO_LIMITS = { maxTaskBytes: 0, maxDescriptionBytes: 0, maxContextBytes: 0 };
function queue(options: { agentId?: string; leaseMs?: number; unlimited?: boolean } = {}): TaskQueue {
  return new TaskQueue(redis, keys, {
    domain: 'backend', agentId: options.agentId ?? 'backend-aaaaaaaa', leaseMs: options.leaseMs ?? 30_000, retentionMs: 3_600_000,
    maxAttempts: 3, retryBaseMs: 0, housekeepingMs: 0, ...(options.unlimited ? { taskLimits: NO_LIMITS } : {}),
  });
}
const echo = (id: string, description: string) => JSON.stringify({ task_id: id, type: 'echo', payload: { description } });
const deadLetters = async () => (await redis.lrange(keys.dead('backend'), 0, -1)).map((s) => JSON.parse(s) as Record<string, string>);
/** Claims until nothing is held back for a client's result hash any more (the grace has passed). */
async function claimAll(q: TaskQueue, count = 10): Promise<ClaimedTask[]> {
  const claimed: ClaimedTask[] = [];
  await until('the grace for raw clients to pass', async () => {
    const batch = await q.claimBatch(count);
    claimed.push(...batch.tasks);
    return batch.deferred === 0;
  });
  return claimed;
}
/** Every line of a task's log and of the log stream. */
async function allLogLines(taskId: string): Promise<string[]> {
  const stream = (await redis.xrange(keys.logStream(), '-', '+')).map(([, fields]) => fields[fields.length - 1] ?? '');
  return [...(await redis.lrange(keys.logs(taskId), 0, -1)), ...stream];
}

beforeEach(async () => {
  const prefix = uniquePrefix('sec-queue');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => cleanup());

describe('raw pushes with hostile ids', () => {
  it('dead-letters each of the audit ids naming the rule, builds no key from them, and serves the next task [audit #21]', async () => {
    const ids = ['a:b:c', 'x*y?[z]', 'has space id', 'line1\nline2', '../../etc/passwd', 'i'.repeat(10 * 1024), '\u202e\u0000'];
    const raws = ids.map((id) => echo(id, 'odd id'));
    await redis.lpush(keys.pending('backend'), ...raws);
    await submitTask(redis, keys, { taskId: 'after-odd-ids', domain: 'backend', type: 'echo', description: 'fine' });

    expect((await claimAll(queue())).map((t) => t.taskId)).toEqual(['after-odd-ids']);
    const dead = await deadLetters();
    expect(dead.map((d) => d['raw']).sort()).toEqual([...raws].sort());
    for (const entry of dead) expect(entry['reason']).toContain(TASK_ID_RULE_TEXT);
    for (const id of ids) expect(await redis.exists(keys.result(id), keys.task(id), keys.logs(id))).toBe(0);
    expect(await redis.llen(keys.active('backend'))).toBe(1);
  });

  it('dead-letters an id colliding with a finished task\'s log list and still runs the two innocent tasks of the same LPUSH [audit #22]', async () => {
    await submitTask(redis, keys, { taskId: 'finished-1', domain: 'backend', type: 'echo', description: 'first' });
    const [first] = await queue().claim(1);
    expect(await queue().finish(first!, { status: 'completed', output: { summary: 'first' } })).toBe(true);
    expect(await redis.type(keys.logs('finished-1'))).toBe('list');

    const colliding = echo('finished-1:logs', 'x');
    await redis.lpush(keys.pending('backend'), colliding, echo('batch-innocent-a', 'a'), echo('batch-innocent-b', 'b'));
    const claimed = await claimAll(queue());
    expect(claimed.map((t) => t.taskId).sort()).toEqual(['batch-innocent-a', 'batch-innocent-b']);
    for (const task of claimed) expect(await queue().finish(task, { status: 'completed', output: { summary: task.taskId } })).toBe(true);

    const [entry] = await deadLetters();
    expect(entry).toMatchObject({ raw: colliding });
    expect(entry!['reason']).toContain(TASK_ID_RULE_TEXT);
    expect(await redis.hget(keys.result('batch-innocent-a'), 'status')).toBe('completed');
    expect(await redis.hget(keys.result('batch-innocent-b'), 'status')).toBe('completed');
    expect(await redis.hget(keys.result('finished-1'), 'status')).toBe('completed');
  });
});

describe('raw pushes reusing a finished task\'s id', () => {
  async function finished(id: string): Promise<Record<string, string>> {
    await submitTask(redis, keys, { taskId: id, domain: 'backend', type: 'echo', description: 'first' });
    const [first] = await queue().claim(1);
    await queue().finish(first!, { status: 'completed', output: { summary: 'first run' } });
    return redis.hgetall(keys.result(id));
  }

  it('dead-letters a raw push with no HSET that reuses a completed id, naming it, and leaves that result alone [audit #24]', async () => {
    const before = await finished('innocent-1');
    await redis.lpush(keys.pending('backend'), echo('innocent-1', 'again'));
    expect(await claimAll(queue())).toEqual([]);
    expect((await deadLetters())[0]).toMatchObject({ raw: echo('innocent-1', 'again'), reason: 'task id already used (status completed): send it again with another id' });
    expect(await redis.hgetall(keys.result('innocent-1'))).toEqual(before);
  });

  it('refuses a reused id whose client wrote status pending after its LPUSH, telling that client why in the result [audit #25]', async () => {
    await finished('innocent-2');
    const reason = 'task id already used (status completed): send it again with another id';
    await redis.lpush(keys.pending('backend'), echo('innocent-2', 'again'));
    // The consumer looks before the client's HSET lands: the race the audit lost.
    expect(await queue().claim(1)).toEqual([]);
    await redis.hset(keys.result('innocent-2'), 'task_id', 'innocent-2', 'status', 'pending');
    expect(await claimAll(queue())).toEqual([]);

    const dead = await deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ raw: echo('innocent-2', 'again'), reason, task_id: 'innocent-2', id_in_use: true });
    const result = await redis.hgetall(keys.result('innocent-2'));
    expect(result['status']).toBe('failed');
    expect(result['error']).toContain(reason);
    expect(JSON.parse(result['output'] ?? '{}')).toMatchObject({ failure: { code: 'invalid_task', retryable: false } });
    expect(await redis.llen(keys.active('backend'))).toBe(0);
    expect(await redis.exists(keys.task('innocent-2'))).toBe(0);
    const log = await redis.lrange(keys.logs('innocent-2'), 0, -1);
    expect(log.filter((line) => line.includes(': claimed echo task'))).toHaveLength(1);
    expect(log.some((line) => line.includes(`refused another task with this id: ${reason}`))).toBe(true);
    expect((await allLogLines('innocent-2')).some((line) => line.includes('attempt 2'))).toBe(false);
  });
});

describe('oversized and malformed raw pushes', () => {
  it('refuses a 5 MB echo under the default cap, and no log line or event carries its text [audit #27]', async () => {
    const raw = echo('huge-echo', 'E'.repeat(5_000_000));
    await redis.lpush(keys.pending('backend'), raw);
    await redis.hset(keys.result('huge-echo'), 'task_id', 'huge-echo', 'status', 'pending');
    expect(await claimAll(queue())).toEqual([]);
    const hash = await redis.hgetall(keys.result('huge-echo'));
    expect(hash['status']).toBe('failed');
    expect(hash['error']).toContain('send less, or raise DAN_MAX_TASK_BYTES');
    expect((await deadLetters())[0]!['raw']).toHaveLength(4096);
    for (const line of await allLogLines('huge-echo')) expect(line.length).toBeLessThan(1024);
    for (const [, fields] of await redis.xrange(keys.events(), '-', '+')) expect(fields.join(' ').length).toBeLessThan(2048);
  });

  it('logs the claim of a 5 MB echo with the cap lifted as one short line in the task log and one in the stream [audit #27]', async () => {
    await redis.lpush(keys.pending('backend'), echo('huge-echo', 'E'.repeat(5_000_000)));
    await redis.hset(keys.result('huge-echo'), 'task_id', 'huge-echo', 'status', 'pending');
    expect((await claimAll(queue({ unlimited: true }))).map((t) => t.taskId)).toEqual(['huge-echo']);
    const taskLog = await redis.lrange(keys.logs('huge-echo'), 0, -1);
    expect(taskLog).toHaveLength(1);
    expect(taskLog[0]).toMatch(/claimed echo task \(attempt 1 of 3, priority normal\): E{500}\.\.\.$/);
    expect(await allLogLines('huge-echo')).toEqual([taskLog[0], taskLog[0]]);
  });

  it('dead-letters 100,000-deep nested JSON with the reason, fails its task and keeps serving [audit #30]', async () => {
    const raw = `{"task_id":"ty-nested-deep","type":"echo","payload":{"description":"x","context":{"deep":${'['.repeat(100_000)}${']'.repeat(100_000)}}}}`;
    await redis.lpush(keys.pending('backend'), raw);
    await redis.hset(keys.result('ty-nested-deep'), 'task_id', 'ty-nested-deep', 'status', 'pending');
    await submitTask(redis, keys, { taskId: 'after-nested', domain: 'backend', type: 'echo', description: 'fine' });
    expect((await claimAll(queue())).map((t) => t.taskId)).toEqual(['after-nested']);
    expect((await deadLetters())[0]).toMatchObject({ raw, task_id: 'ty-nested-deep' });
    expect((await deadLetters())[0]!['reason']).toMatch(/^not JSON: .*too many nested data structures/);
    expect(await redis.hget(keys.result('ty-nested-deep'), 'status')).toBe('failed');
  });

  it('dead-letters timeout_seconds NaN as not JSON and fails its task [audit #31]', async () => {
    const raw = '{"task_id":"ty-nan","type":"echo","payload":{"description":"x"},"metadata":{"timeout_seconds":NaN}}';
    await redis.lpush(keys.pending('backend'), raw);
    await redis.hset(keys.result('ty-nan'), 'task_id', 'ty-nan', 'status', 'pending');
    expect(await claimAll(queue())).toEqual([]);
    expect((await deadLetters())[0]).toMatchObject({ raw, task_id: 'ty-nan' });
    expect((await deadLetters())[0]!['reason']).toMatch(/^not JSON/);
    expect(await redis.hgetall(keys.result('ty-nan'))).toMatchObject({ status: 'failed', error: expect.stringMatching(/^dead-lettered: not JSON/) });
  });

  it('leaves malformed input failed when its client writes status pending after the push, as protocol.md says [audit #32]', async () => {
    const inputs = {
      'ty-nan': '{"task_id":"ty-nan","type":"echo","payload":{"description":"x"},"metadata":{"timeout_seconds":NaN}}',
      'ty-nested-deep': `{"task_id":"ty-nested-deep","payload":{"description":"x","context":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}}`,
      '12345': '{"task_id":12345,"type":"echo","payload":{"description":"x"}}',
    };
    for (const [id, raw] of Object.entries(inputs)) {
      await redis.lpush(keys.pending('backend'), raw);
      // The consumer looks before the client's HSET lands: the race the audit lost.
      expect(await queue().claim(1)).toEqual([]);
      await redis.hset(keys.result(id), 'task_id', id, 'status', 'pending');
    }
    expect(await claimAll(queue())).toEqual([]);
    for (const id of Object.keys(inputs)) {
      expect(await redis.hgetall(keys.result(id)), id).toMatchObject({ status: 'failed', error: expect.stringMatching(/^dead-lettered: /) });
    }
    expect((await deadLetters()).map((d) => d['raw']).sort()).toEqual(Object.values(inputs).sort());
  });
});

describe('keys deleted while a task runs', () => {
  /** A task claimed by backend-aaaaaaaa, as a running agent holds it. */
  async function running(taskId: string): Promise<{ q: TaskQueue; task: ClaimedTask }> {
    await submitTask(redis, keys, { taskId, domain: 'backend', type: 'echo', description: 'mid-task' });
    const q = queue();
    const [task] = await q.claim(1);
    return { q, task: task! };
  }
  async function expectEndedOnce(taskId: string): Promise<void> {
    expect(await redis.hgetall(keys.result(taskId))).toMatchObject({ status: 'completed', attempts: '1' });
    expect(await redis.llen(keys.active('backend'))).toBe(0);
    expect(await redis.zcard(keys.leases('backend'))).toBe(0);
    expect(await redis.exists(keys.task(taskId))).toBe(0);
  }

  it('completes a task whose results hash was deleted mid-task, and the hash is written again [audit #44]', async () => {
    const { q, task } = await running('del-result');
    await redis.del(keys.result('del-result'));
    expect(await q.renew([task])).toEqual([]);
    expect(await q.finish(task, { status: 'completed', output: { summary: 'done' } })).toBe(true);
    await expectEndedOnce('del-result');
  });

  it('completes a task whose attempt record was deleted mid-task, once, with nothing left in tasks:active [audit #45]', async () => {
    const { q, task } = await running('del-record');
    await redis.del(keys.task('del-record'));
    expect(await q.renew([task])).toEqual([]);
    expect(await q.finish(task, { status: 'completed', output: { summary: 'done' } })).toBe(true);
    await expectEndedOnce('del-record');
  });

  it('completes it too when the record goes just before the result is written [audit #45]', async () => {
    const { q, task } = await running('del-record-late');
    await redis.del(keys.task('del-record-late'));
    expect(await q.finish(task, { status: 'completed', output: { summary: 'done' } })).toBe(true);
    await expectEndedOnce('del-record-late');
  });

  it('runs it again when the record is gone and its agent stopped renewing, rather than leaving it in_progress [audit #45]', async () => {
    await submitTask(redis, keys, { taskId: 'del-record-dead', domain: 'backend', type: 'echo', description: 'mid-task' });
    const [task] = await queue({ agentId: 'backend-deadbeef', leaseMs: 1 }).claim(1);
    await redis.del(keys.task('del-record-dead'));
    const again = await until('the lapsed attempt to run again', async () => (await queue({ agentId: 'backend-bbbbbbbb' }).claim(1))[0]);
    expect(again).toMatchObject({ taskId: 'del-record-dead', attempt: 2, raw: task!.raw });
    expect(await redis.lrange(keys.active('backend'), 0, -1)).toEqual([task!.raw]);
    expect(await queue({ agentId: 'backend-bbbbbbbb' }).finish(again, { status: 'completed', output: { summary: 'done' } })).toBe(true);
    expect(await redis.hget(keys.result('del-record-dead'), 'status')).toBe('completed');
    expect(await redis.llen(keys.active('backend'))).toBe(0);
  });

  it('does not let another agent finish a task by its id when the record is gone [audit #45]', async () => {
    const { task } = await running('del-record-other');
    await redis.del(keys.task('del-record-other'));
    const other = queue({ agentId: 'backend-cccccccc' });
    expect(await other.finish({ ...task, token: 'backend-cccccccc:00:0:0' }, { status: 'completed', output: { summary: 'FORGED' } })).toBe(false);
    expect(await redis.hget(keys.result('del-record-other'), 'status')).toBe('in_progress');
  });

  it('completes a task whose lease was removed mid-task [audit #46]', async () => {
    const { q, task } = await running('zrem-lease');
    await redis.zrem(keys.leases('backend'), 'zrem-lease');
    await q.renew([task]);
    expect(await q.finish(task, { status: 'completed', output: { summary: 'done' } })).toBe(true);
    await expectEndedOnce('zrem-lease');
  });
});
