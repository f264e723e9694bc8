import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Keys } from '../../lib/redis/keys.js';
import { queueDepth, queueStates, waitingCount, waitingCounts } from '../../lib/redis/queue-counts.js';
import { RAW_CLIENT_GRACE_MS, TaskQueue } from '../../lib/redis/task-queue.js';
import { PlanStoodError, submitTask } from '../../lib/redis/task-store.js';
import { readMetricCounters } from '../../lib/redis/task-metrics.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;

/** A backend queue; retries come due at once (`retryBaseMs` 0) unless a test says otherwise. */
function queue(agentId = 'backend-aaaaaaaa', leaseMs = 30_000, maxAttempts = 3, retryBaseMs = 0): TaskQueue {
  return new TaskQueue(redis, keys, { domain: 'backend', agentId, leaseMs, retentionMs: 3_600_000, maxAttempts, retryBaseMs, housekeepingMs: 0 });
}

beforeEach(async () => {
  const prefix = uniquePrefix('queue');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => cleanup());

describe('TaskQueue against a real Redis', () => {
  it('serves a task pushed exactly as protocol.md tells a raw client to, and records the result', async () => {
    const raw = `{
      "task_id": "raw-1", "type": "task_assignment", "source": "cli", "destination": "backend",
      "payload": {"description": "Create a health endpoint", "requirements": [], "context": {}},
      "metadata": {"priority": "normal", "timeout_seconds": 300}
    }`;
    await redis.lpush(keys.pending('backend'), raw);
    await redis.hset(keys.result('raw-1'), 'task_id', 'raw-1', 'status', 'pending');

    const [task] = await queue().claim(1);
    expect(task).toMatchObject({ taskId: 'raw-1', raw, attempt: 1, priority: 'normal' });
    expect(await redis.hget(keys.result('raw-1'), 'status')).toBe('in_progress');
    expect(await redis.hget(keys.result('raw-1'), 'started_at')).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(await redis.lrange(keys.active('backend'), 0, -1)).toEqual([raw]);

    const sub = redis.duplicate();
    const published = new Promise<string>((resolve) => sub.on('message', (_c: string, m: string) => resolve(m)));
    await sub.subscribe(keys.resultChannel('raw-1'));
    expect(await queue().finish(task!, { status: 'completed', output: { summary: 'done', files_created: ['a.ts'], files_modified: [] } })).toBe(true);

    const hash = await redis.hgetall(keys.result('raw-1'));
    expect(hash['status']).toBe('completed');
    expect(JSON.parse(hash['output']!)).toEqual({ summary: 'done', files_created: ['a.ts'], files_modified: [] });
    expect(hash['completed_at']).toBeDefined();
    expect(await redis.llen(keys.active('backend'))).toBe(0);
    expect(await redis.ttl(keys.result('raw-1'))).toBeGreaterThan(3000);
    const message = JSON.parse(await published);
    expect(message).toMatchObject({ status: 'completed', output: hash['output'] });
    sub.disconnect();
  });

  it('ends the tasks finished in one turn together: each caller its own answer, every end counted exactly', async () => {
    const ids = ['batch-1', 'batch-2', 'batch-3', 'batch-4'];
    for (const id of ids) await submitTask(redis, keys, { taskId: id, domain: 'backend', description: id });
    const q = queue();
    const [a, b, c, d] = await q.claim(4);
    const answers = await Promise.all([
      q.finish(a!, { status: 'completed', output: { summary: 'a' }, logLine: 'done a', heldLines: ['[t] held a'] }),
      q.finish(b!, { status: 'failed', output: { failure: { code: 'worker_failed' } }, error: 'broke' }),
      q.finish({ ...c!, token: 'not-its-token' }, { status: 'completed', output: {} }),
      q.finish(d!, { status: 'completed', output: { summary: 'd' } }),
      // The same task a second time in the same turn: the first end stands.
      q.finish(d!, { status: 'failed', output: {}, error: 'twice' }),
    ]);
    expect(answers).toEqual([true, true, false, true, false]);
    expect(await redis.hget(keys.result('batch-1'), 'status')).toBe('completed');
    expect(await redis.hget(keys.result('batch-2'), 'error')).toBe('broke');
    expect(await redis.hget(keys.result('batch-3'), 'status')).toBe('in_progress');
    expect(await redis.hget(keys.result('batch-4'), 'status')).toBe('completed');
    expect((await redis.lrange(keys.logs('batch-1'), 0, -1)).slice(1)).toEqual(['[t] held a', expect.stringMatching(/^\[.*Z\] done a$/)]);
    expect(await redis.lrange(keys.active('backend'), 0, -1)).toEqual([c!.raw]);
    expect(await redis.zrange(keys.leases('backend'), 0, -1)).toEqual(['batch-3']);
    expect(await redis.exists(keys.task('batch-1'), keys.task('batch-2'), keys.task('batch-4'))).toBe(0);
    const counts = await readMetricCounters(redis, keys);
    expect(counts.tasks.filter((t) => t.domain === 'backend').map((t) => [t.status, t.code, t.count]).sort())
      .toEqual([['completed', '', 2], ['failed', 'worker_failed', 1]]);
    const durations = counts.taskDurations.find((t) => t.status === 'completed')!.durations;
    expect(durations.buckets.reduce((x, y) => x + y, 0)).toBe(2);
    expect(await q.finish(c!, { status: 'completed', output: {} })).toBe(true);
  });

  it('fails only the end whose writes fail in a batch; the others of the batch end and are counted', async () => {
    for (const id of ['broken-1', 'fine-1']) await submitTask(redis, keys, { taskId: id, domain: 'backend', description: id });
    const q = queue();
    const [broken, fine] = await q.claim(2);
    // A key of the wrong type under the first task's log: its "completed" line cannot be written.
    await redis.del(keys.logs(broken!.taskId));
    await redis.set(keys.logs(broken!.taskId), 'not a list');
    const [a, b] = await Promise.allSettled([
      q.finish(broken!, { status: 'completed', output: {}, logLine: 'done' }),
      q.finish(fine!, { status: 'completed', output: {}, logLine: 'done' }),
    ]);
    expect(a.status).toBe('rejected');
    expect(String((a as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(b).toEqual({ status: 'fulfilled', value: true });
    expect(await redis.hget(keys.result('fine-1'), 'status')).toBe('completed');
    const counts = await readMetricCounters(redis, keys);
    expect(counts.tasks.find((t) => t.domain === 'backend' && t.status === 'completed')?.count).toBe(1);
  });

  it('takes high before normal before low, FIFO within a priority', async () => {
    const send = (id: string, priority: string) =>
      submitTask(redis, keys, { taskId: id, domain: 'backend', description: id, priority: priority as 'low' });
    await send('low-1', 'low');
    await send('normal-1', 'normal');
    await send('high-1', 'high');
    await send('normal-2', 'normal');
    await send('high-2', 'high');
    const order: string[] = [];
    const q = queue();
    for (let i = 0; i < 5; i++) order.push(...(await q.claim(1)).map((t) => t.taskId));
    expect(order).toEqual(['high-1', 'high-2', 'normal-1', 'normal-2', 'low-1']);
  });

  it('dead-letters text that is not a JSON object, keeps the raw input and reason, and keeps serving', async () => {
    await redis.lpush(keys.pending('backend'), 'this is not json');
    await redis.lpush(keys.pending('backend'), '[1,2,3]');
    await redis.lpush(keys.pending('backend'), '{"task_id": "broken-7", "payload": ');
    await submitTask(redis, keys, { taskId: 'good-1', domain: 'backend', description: 'fine' });

    const claimed = await queue().claim(5);
    expect(claimed.map((t) => t.taskId)).toEqual(['good-1']);
    // broken-7 names a result its client has not written: it waits for that write up to the grace first.
    await until('the grace for broken-7 to pass', async () => (await queue().claimBatch(5)).deferred === 0);
    const dead = (await redis.lrange(keys.dead('backend'), 0, -1)).map((s) => JSON.parse(s));
    expect(dead.map((d) => d.raw).sort()).toEqual(['this is not json', '[1,2,3]', '{"task_id": "broken-7", "payload": '].sort());
    expect(dead.every((d) => typeof d.reason === 'string' && d.reason.length > 0)).toBe(true);
    const broken = await redis.hgetall(keys.result('broken-7'));
    expect(broken['status']).toBe('failed');
    expect(broken['error']).toMatch(/dead-lettered: not JSON/);
  });

  it('gives an id to a task that came without one and records its result under it', async () => {
    await redis.lpush(keys.pending('backend'), '{"payload": {"description": "no id here"}}');
    const [task] = await queue().claim(1);
    expect(task!.taskId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(JSON.parse(task!.raw).task_id).toBe(task!.taskId);
    expect(await redis.hget(keys.result(task!.taskId), 'status')).toBe('in_progress');
  });

  it('requeues a task whose lease lapsed, and the late finisher cannot overwrite the new attempt', async () => {
    await submitTask(redis, keys, { taskId: 'lapse-1', domain: 'backend', description: 'x' });
    const first = queue('backend-11111111', 1);
    const [stale] = await first.claim(1);
    await new Promise((r) => setTimeout(r, 20));
    const second = queue('backend-22222222');
    const [fresh] = await second.claim(1);
    expect(fresh).toMatchObject({ taskId: 'lapse-1', attempt: 2 });
    expect(await first.finish(stale!, { status: 'failed', output: {}, error: 'late' })).toBe(false);
    expect(await redis.hget(keys.result('lapse-1'), 'status')).toBe('in_progress');
    expect(await second.finish(fresh!, { status: 'completed', output: { summary: 'ok' } })).toBe(true);
    expect(await redis.hget(keys.result('lapse-1'), 'attempts')).toBe('2');
    expect((await redis.lrange(keys.logs('lapse-1'), 0, -1)).join('\n')).toMatch(/attempt 1 ended: lease expired \(backend-11111111 stopped renewing it\) \(owner backend-11111111\); attempt 2 of 3 in 0\.0 s/);
  });

  it("counts every domain's backlog in one read (waiting, ready by priority, delayed), as queueStates does, without running or dead-lettered tasks", async () => {
    for (const [domain, priority] of [['backend', 'high'], ['backend', 'low'], ['backend', 'normal'], ['frontend', 'normal']] as const) {
      await submitTask(redis, keys, { domain, description: 'x', priority });
    }
    // One backend task taken (running, not waiting), one raw item dead-lettered (not waiting either).
    await queue().claim(1);
    await redis.lpush(keys.pending('backend'), 'not json');
    await queue().claim(5);
    await submitTask(redis, keys, { domain: 'backend', description: 'after the claims' });
    const states = await queueStates(redis, keys, ['backend', 'frontend', 'devops']);
    expect(states.map((s) => [s.running, s.deadLettered])).toEqual([[3, 1], [0, 0], [0, 0]]);
    const counts = await waitingCounts(redis, keys, ['backend', 'frontend', 'devops']);
    expect([...counts]).toEqual([['backend', 1], ['frontend', 1], ['devops', 0]]);
    expect(states.map((s) => waitingCount(s))).toEqual([...counts.values()]);
    expect(await queueDepth(redis, keys, 'backend')).toBe(1);
  });

  it('renews held leases and reports lost ones', async () => {
    await submitTask(redis, keys, { taskId: 'renew-1', domain: 'backend', description: 'x' });
    const q = queue();
    const [task] = await q.claim(1);
    const before = Number(await redis.zscore(keys.leases('backend'), 'renew-1'));
    await new Promise((r) => setTimeout(r, 5));
    expect(await q.renew([task!])).toEqual([]);
    expect(Number(await redis.zscore(keys.leases('backend'), 'renew-1'))).toBeGreaterThan(before);
    expect(await q.renew([{ ...task!, token: 'someone-else' }])).toEqual(['renew-1']);
  });

  it('hands a dead agent\'s tasks back at once, and fails a task once its attempts are spent', async () => {
    await submitTask(redis, keys, { taskId: 'owned-1', domain: 'backend', description: 'x' });
    const q = queue('backend-deadbeef', 30_000, 2);
    await q.claim(1);
    expect(await q.reclaimOwnedBy('backend-deadbeef', 'agent died')).toEqual({ requeued: 1, failed: 0 });
    expect(await queueDepth(redis, keys, 'backend')).toBe(1);
    await q.claim(1);
    expect(await q.reclaimOwnedBy('backend-deadbeef', 'agent died')).toEqual({ requeued: 0, failed: 1 });
    const hash = await redis.hgetall(keys.result('owned-1'));
    expect(hash['status']).toBe('failed');
    expect(hash['error']).toBe('gave up after 2 attempts; the last ended: agent died');
    expect(await redis.llen(keys.active('backend'))).toBe(0);
  });

  it('dead-letters every task of a queue nobody serves', async () => {
    await submitTask(redis, keys, { taskId: 'nowhere-1', domain: 'nosuch', description: 'x' });
    const q = new TaskQueue(redis, keys, { domain: 'nosuch', agentId: 'main-1', leaseMs: 1000, retentionMs: 1000, maxAttempts: 3 });
    expect(await q.deadLetterPending("unknown domain 'nosuch'; known: backend")).toBe(1);
    expect(await redis.hget(keys.result('nowhere-1'), 'error')).toBe("dead-lettered: unknown domain 'nosuch'; known: backend");
    expect(JSON.parse((await redis.lindex(keys.dead('nosuch'), 0))!).reason).toBe("unknown domain 'nosuch'; known: backend");
  });

  it('waits briefly for a raw client to write the result hash, so its "pending" never lands on ours', async () => {
    const q = queue();
    await redis.lpush(keys.pending('backend'), JSON.stringify({ task_id: 'late-hset', payload: { description: 'x' } }));
    expect(await q.claimBatch(1)).toEqual({ tasks: [], deferred: 1 });
    await redis.hset(keys.result('late-hset'), 'task_id', 'late-hset', 'status', 'pending');
    const { tasks } = await q.claimBatch(1);
    expect(tasks.map((t) => t.taskId)).toEqual(['late-hset']);
    expect(await redis.hget(keys.result('late-hset'), 'status')).toBe('in_progress');
  });

  it('takes a task whose client never writes the result hash once the grace has passed', async () => {
    const q = queue();
    await redis.lpush(keys.pending('backend'), JSON.stringify({ task_id: 'no-hset', payload: { description: 'x' } }));
    expect((await q.claimBatch(1)).deferred).toBe(1);
    await new Promise((r) => setTimeout(r, RAW_CLIENT_GRACE_MS + 50));
    expect((await q.claimBatch(1)).tasks.map((t) => t.taskId)).toEqual(['no-hset']);
  });

  it('logs each claim as one line in the task log and the log stream', async () => {
    await submitTask(redis, keys, { taskId: 'multi-line', domain: 'backend', description: 'first line\n\nsecond line', priority: 'high' });
    await queue().claim(1);
    const [line] = await redis.lrange(keys.logs('multi-line'), 0, -1);
    expect(line).toMatch(/^\[[^\]]+Z\] backend-aaaaaaaa: claimed task \(attempt 1 of 3, priority high\): first line second line$/);
    const [entry] = await redis.xrange(keys.logStream(), '-', '+');
    expect(entry![1]).toEqual(['task', 'multi-line', 'agent', 'backend-aaaaaaaa', 'domain', 'backend', 'line', line]);
  });

  it('writes the log lines a parent held with its sub-task\'s submit and with its finish, in order, and none when either is refused', async () => {
    const lines = (n: number) => [`[2026-12-08T00:00:0${n}.000Z] main-aaaaaaaa: line ${n}`];
    const parentLog = (n: number) => ({ agentId: 'main-aaaaaaaa', domain: 'main', lines: lines(n) });
    await submitTask(redis, keys, { taskId: 'parent', domain: 'backend', description: 'parent' });
    const [parent] = await queue('main-aaaaaaaa').claim(1);
    await submitTask(redis, keys, { taskId: 'parent-backend', domain: 'backend', description: 'child', parentId: 'parent' }, undefined, { parentLog: parentLog(1) });
    // Refused: the id is taken, so neither the task nor the line is written.
    await expect(submitTask(redis, keys, { taskId: 'parent-backend', domain: 'backend', description: 'again', parentId: 'parent' }, undefined, { parentLog: parentLog(2) })).rejects.toThrow(/already used/);
    // A finish whose lease was lost writes nothing either.
    expect(await queue('main-aaaaaaaa').finish({ ...parent!, token: 'not-the-lease' }, { status: 'completed', output: {}, logLine: 'x', heldLines: lines(3) })).toBe(false);
    expect(await queue('main-aaaaaaaa').finish(parent!, { status: 'completed', output: {}, logLine: 'main-aaaaaaaa: done', heldLines: [...lines(4), ...lines(5)] })).toBe(true);
    const log = await redis.lrange(keys.logs('parent'), 0, -1);
    expect(log.slice(1)).toEqual([...lines(1), ...lines(4), ...lines(5), expect.stringMatching(/\] main-aaaaaaaa: done$/)]);
    const streamed = (await redis.xrange(keys.logStream(), '-', '+')).filter(([, f]) => f[1] === 'parent').map(([, f]) => f);
    expect(streamed.slice(1)).toEqual(log.slice(1).map((line) => ['task', 'parent', 'agent', 'main-aaaaaaaa', 'domain', expect.any(String), 'line', line]));
  });

  it('stores the parent\'s plan with its first sub-task, queues the others of the same plan, and refuses a sub-task of another plan', async () => {
    const ours = { steps: ['backend', 'frontend'] };
    const sub = (domain: string, plan: unknown) =>
      submitTask(redis, keys, { taskId: `p-${domain}`, domain, description: domain, parentId: 'p' }, undefined, { parentPlan: { json: JSON.stringify(plan), ttlMs: 60_000 } });
    await sub('backend', ours);
    expect(JSON.parse((await redis.get(keys.plan('p')))!)).toEqual(ours);
    expect(await redis.pttl(keys.plan('p'))).toBeGreaterThan(50_000);
    await sub('frontend', ours);
    const refused = await sub('docs', { steps: ['docs'] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PlanStoodError);
    expect(JSON.parse((refused as PlanStoodError).plan)).toEqual(ours);
    expect(await redis.exists(keys.result('p-docs'))).toBe(0);
    expect(await redis.smembers(keys.children('p'))).toEqual(expect.arrayContaining(['p-backend', 'p-frontend']));
  });
});
