import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DanError } from '../../lib/errors.js';
import { LlmError } from '../../lib/llm/llm-error.js';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import type { TaskQueueOptions } from '../../lib/redis/task-queue.js';
import { TaskQueue } from '../../lib/redis/task-queue.js';
import { cancelTask } from '../../lib/redis/cancel-task.js';
import { queueDepth } from '../../lib/redis/queue-counts.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TaskHandler } from '../../lib/runtime/task-consumer.js';
import { TaskConsumer } from '../../lib/runtime/task-consumer.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: Keys;
const opened: Redis[] = [];
const consumers: TaskConsumer[] = [];

function queue(options: Partial<TaskQueueOptions> = {}): TaskQueue {
  return new TaskQueue(redis, keys, { domain: 'backend', agentId: 'backend-aaaaaaaa', leaseMs: 30_000, retentionMs: 3_600_000, maxAttempts: 3, retryBaseMs: 0, housekeepingMs: 0, ...options });
}

/** Redis' own clock in ms: the scripts schedule retries by it. */
async function redisNow(): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

function result(id: string): Promise<Record<string, string>> {
  return redis.hgetall(keys.result(id));
}

function startConsumer(handler: TaskHandler, options: Partial<TaskQueueOptions> = {}): TaskConsumer {
  const blocking = redis.duplicate();
  const subscriber = redis.duplicate();
  opened.push(blocking, subscriber);
  const q = queue({ agentId: 'backend-cccccccc', ...options });
  const consumer = new TaskConsumer({
    redis, blocking, subscriber, keys, queue: q, agentId: 'backend-cccccccc', concurrency: 2,
    leaseMs: 30_000, handler, logger: silentLogger, pollMs: 100, retentionMs: 3_600_000,
  });
  consumers.push(consumer);
  void consumer.start();
  return consumer;
}

beforeEach(async () => {
  const prefix = uniquePrefix('rel');
  keys = new Keys(prefix);
  ({ redis, cleanup } = await connectTestRedis(prefix));
});
afterEach(async () => {
  for (const c of consumers.splice(0)) await c.stop(100);
  for (const r of opened.splice(0)) r.disconnect();
  await cleanup();
});

describe('retries with backoff', () => {
  it('puts a retryable failure in the delayed set with retry_at, and runs it again once due', async () => {
    await submitTask(redis, keys, { taskId: 'r-1', domain: 'backend', description: 'x' });
    const q = queue({ retryBaseMs: 300 });
    const [first] = await q.claim(1);
    expect(await q.retry(first!, 'llm_rate_limited: slow down', { error: 'slow down' })).toBe('retrying');

    const hash = await result('r-1');
    expect(hash['status']).toBe('pending');
    expect(Date.parse(hash['retry_at']!)).toBe(Number(await redis.zscore(keys.delayed('backend'), 'r-1')));
    expect(await redis.llen(keys.active('backend'))).toBe(0);
    expect(await redis.zcard(keys.leases('backend'))).toBe(0);
    expect(await queueDepth(redis, keys, 'backend')).toBe(1);
    const logs = await redis.lrange(keys.logs('r-1'), 0, -1);
    expect(logs.at(-1)).toMatch(/attempt 1 ended: llm_rate_limited: slow down \(owner backend-aaaaaaaa\); attempt 2 of 3 in 0\.[1-3] s$/);

    const early = await q.claimBatch(1);
    // Not due yet (unless the machine stalled for the whole backoff, in which case it is taken).
    if (early.tasks.length === 0) expect(early.nextDueMs).toBeGreaterThan(0);
    const again = early.tasks[0] ?? await until('the retry to come due', async () => (await q.claim(1))[0], 10_000);
    expect(again).toMatchObject({ taskId: 'r-1', attempt: 2 });
    expect((await result('r-1'))['status']).toBe('in_progress');
  });

  it('waits between half and all of min(cap, base * 2^(n-1)) before attempt n+1', async () => {
    await submitTask(redis, keys, { taskId: 'b-1', domain: 'backend', description: 'x', extraMetadata: { max_attempts: 5 } });
    const q = queue({ retryBaseMs: 200, retryMaxMs: 500 });
    for (const full of [200, 400, 500]) {
      const task = await until('the task to be claimable', async () => (await q.claim(1))[0], 10_000);
      const before = await redisNow();
      await q.retry(task, 'llm_server_error: 500', {});
      const after = await redisNow();
      const due = Number(await redis.zscore(keys.delayed('backend'), 'b-1'));
      expect(due - before).toBeGreaterThanOrEqual(Math.floor(full / 2));
      expect(due - after).toBeLessThanOrEqual(full);
    }
  });

  it('fails with the history of every attempt once metadata.max_attempts is spent', async () => {
    await submitTask(redis, keys, { taskId: 'h-1', domain: 'backend', description: 'x', extraMetadata: { max_attempts: 2 } });
    const q = queue();
    const [a1] = await q.claim(1);
    expect(await q.retry(a1!, 'llm_overloaded: busy', { error: 'busy' })).toBe('retrying');
    const a2 = await until('attempt 2', async () => (await q.claim(1))[0], 10_000);
    expect(await q.retry(a2, 'llm_overloaded: still busy', { error: 'still busy', partial: true })).toBe('failed');

    const hash = await result('h-1');
    expect(hash['status']).toBe('failed');
    expect(hash['attempts']).toBe('2');
    expect(hash['error']).toBe('gave up after 2 attempts; the last ended: llm_overloaded: still busy');
    const output = JSON.parse(hash['output']!) as { partial: boolean; attempt_history: { attempt: number; agent: string; reason: string; started_at: string; ended_at: string }[] };
    expect(output.partial).toBe(true);
    expect(output.attempt_history.map((h) => [h.attempt, h.agent, h.reason])).toEqual([
      [1, 'backend-aaaaaaaa', 'llm_overloaded: busy'],
      [2, 'backend-aaaaaaaa', 'llm_overloaded: still busy'],
    ]);
    expect(output.attempt_history.every((h) => Date.parse(h.ended_at) >= Date.parse(h.started_at))).toBe(true);
    expect(await redis.exists(keys.task('h-1'))).toBe(0);
    expect(await redis.zcard(keys.delayed('backend'))).toBe(0);
  });

  it('a failure after an earlier attempt lost its agent carries both attempts in its history', async () => {
    await submitTask(redis, keys, { taskId: 'f-1', domain: 'backend', description: 'x' });
    const dead = queue({ agentId: 'backend-dead0000' });
    await dead.claim(1);
    expect(await dead.reclaimOwnedBy('backend-dead0000', 'agent backend-dead0000 exited (SIGKILL)')).toEqual({ requeued: 1, failed: 0 });
    const live = queue({ agentId: 'backend-11ve0000' });
    const task = await until('the handed-back task', async () => (await live.claim(1))[0], 10_000);
    expect(task.attempt).toBe(2);
    expect(await live.finish(task, { status: 'failed', output: { error: 'path outside the workspace' }, error: 'path outside the workspace' })).toBe(true);
    const output = JSON.parse((await result('f-1'))['output']!) as { error: string; attempt_history: { agent: string; reason: string }[] };
    expect(output.error).toBe('path outside the workspace');
    expect(output.attempt_history).toEqual([
      expect.objectContaining({ attempt: 1, agent: 'backend-dead0000', reason: 'agent backend-dead0000 exited (SIGKILL)' }),
      expect.objectContaining({ attempt: 2, agent: 'backend-11ve0000', reason: 'path outside the workspace' }),
    ]);
  });

  it('runs a task whose retry came due before the tasks that queued after it', async () => {
    await submitTask(redis, keys, { taskId: 'first', domain: 'backend', description: 'x' });
    const q = queue();
    const [first] = await q.claim(1);
    for (const id of ['later-1', 'later-2']) await submitTask(redis, keys, { taskId: id, domain: 'backend', description: 'x' });
    await q.retry(first!, 'agent died', {});
    const order: string[] = [];
    for (let i = 0; i < 3; i++) order.push(...(await q.claim(1)).map((t) => t.taskId));
    expect(order).toEqual(['first', 'later-1', 'later-2']);
  });

  it('dead-letters JSON with NaN, Infinity or hex numbers, which JSON.parse refuses', async () => {
    for (const raw of ['{"task_id": "nan-1", "payload": {"description": "x"}, "n": NaN}', '{"task_id": "inf-1", "n": Infinity}', '{"task_id": "hex-1", "n": 0x1F}']) {
      await redis.lpush(keys.pending('backend'), raw);
    }
    expect(await queue().claim(5)).toEqual([]);
    // No client writes their results: each waits for that write up to the grace, then is dead-lettered.
    await until('the grace for their clients to pass', async () => (await queue().claimBatch(5)).deferred === 0);
    const dead = (await redis.lrange(keys.dead('backend'), 0, -1)).map((d) => JSON.parse(d) as { task_id: string; reason: string });
    expect(dead.map((d) => d.task_id).sort()).toEqual(['hex-1', 'inf-1', 'nan-1']);
    expect(dead.every((d) => d.reason.startsWith('not JSON'))).toBe(true);
    expect(await result('nan-1')).toMatchObject({ status: 'failed' });
  });

  it('refuses a retry from an agent that no longer holds the lease', async () => {
    await submitTask(redis, keys, { taskId: 'l-1', domain: 'backend', description: 'x' });
    const q = queue();
    const [task] = await q.claim(1);
    expect(await q.retry({ ...task!, token: 'not-mine' }, 'llm_server_error', {})).toBe('lease_lost');
    expect((await result('l-1'))['status']).toBe('in_progress');
    expect(await redis.zcard(keys.delayed('backend'))).toBe(0);
  });
});

describe('cancellation', () => {
  it('cancels a waiting task: it ends failed "cancelled" and is never run', async () => {
    await submitTask(redis, keys, { taskId: 'c-1', domain: 'backend', description: 'x' });
    expect(await cancelTask(redis, keys, 'c-1', { by: 'tester', retentionMs: 60_000 })).toEqual({ kind: 'cancelled', taskId: 'c-1', owner: undefined, children: [] });
    const hash = await result('c-1');
    expect(hash).toMatchObject({ status: 'failed', error: 'cancelled' });
    expect(JSON.parse(hash['output']!)).toEqual({ error: 'cancelled', cancelled_by: 'tester', failure: { code: 'cancelled', retryable: false } });
    expect(await queue().claim(5)).toEqual([]);
    expect(await queueDepth(redis, keys, 'backend')).toBe(0);
    expect(await redis.llen(keys.active('backend'))).toBe(0);
    expect(await cancelTask(redis, keys, 'c-1', { by: 'tester', retentionMs: 60_000 })).toEqual({ kind: 'ended', taskId: 'c-1', status: 'failed' });
    expect(await cancelTask(redis, keys, 'nope', { by: 'tester', retentionMs: 60_000 })).toEqual({ kind: 'not_found', taskId: 'nope' });
  });

  it('cancels a task waiting for its retry, and a parent with its sub-tasks', async () => {
    await submitTask(redis, keys, { taskId: 'd-1', domain: 'backend', description: 'x' });
    const q = queue({ retryBaseMs: 60_000 });
    const [task] = await q.claim(1);
    await q.retry(task!, 'llm_rate_limited', {});
    expect((await cancelTask(redis, keys, 'd-1', { by: 'tester', retentionMs: 60_000 })).kind).toBe('cancelled');
    expect(await redis.zcard(keys.delayed('backend'))).toBe(0);
    expect(await redis.exists(keys.task('d-1'))).toBe(0);

    await submitTask(redis, keys, { taskId: 'p-1', domain: 'main', description: 'parent' });
    await submitTask(redis, keys, { taskId: 'p-1-backend', domain: 'backend', description: 'child', parentId: 'p-1' });
    await submitTask(redis, keys, { taskId: 'p-1-frontend', domain: 'frontend', description: 'child', parentId: 'p-1' });
    const outcome = await cancelTask(redis, keys, 'p-1', { by: 'tester', retentionMs: 60_000 });
    expect(outcome.kind === 'cancelled' && outcome.children.map((c) => [c.taskId, c.kind])).toEqual([['p-1-backend', 'cancelled'], ['p-1-frontend', 'cancelled']]);
    for (const id of ['p-1', 'p-1-backend', 'p-1-frontend']) expect(await result(id)).toMatchObject({ status: 'failed', error: 'cancelled' });
    expect((await redis.lrange(keys.logs('p-1-backend'), 0, -1)).join('\n')).toMatch(/tester: cancelled: its parent p-1 was cancelled/);
  });

  it('aborts the worker of a running task at once and frees the agent', async () => {
    let sawAbort: unknown;
    startConsumer(async (ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      sawAbort = ctx.signal.reason;
      throw ctx.signal.reason;
    });
    await submitTask(redis, keys, { taskId: 'run-1', domain: 'backend', description: 'long' });
    await until('the task to start', async () => (await result('run-1'))['status'] === 'in_progress');
    const outcome = await cancelTask(redis, keys, 'run-1', { by: 'tester', retentionMs: 60_000 });
    expect(outcome).toMatchObject({ kind: 'cancelled', owner: 'backend-cccccccc' });
    await until('the worker to see the abort', async () => sawAbort !== undefined);
    expect((sawAbort as DanError).code).toBe('cancelled');
    await until('the consumer to log the stop', async () => (await redis.lrange(keys.logs('run-1'), 0, -1)).some((l) => l.includes('cancelled; its work was stopped')));
    expect(await result('run-1')).toMatchObject({ status: 'failed', error: 'cancelled' });
    expect(consumers[0]!.busy).toBe(0);
    expect(await redis.zcard(keys.leases('backend'))).toBe(0);
  });
});

describe('the consumer decides: retry, fail at once, time out', () => {
  it('retries a rate-limited attempt and completes on the next; fails bad input at once', async () => {
    let calls = 0;
    startConsumer(async (ctx) => {
      if (ctx.task.description === 'bad') throw new DanError('invalid_input', 'path ../etc is outside the workspace');
      calls += 1;
      if (calls === 1) throw LlmError.fromStatus(429, 'rate limited', { errorType: 'rate_limit_error' });
      return { summary: `done on attempt ${ctx.claimed.attempt}`, files_created: [], files_modified: [] };
    });
    await submitTask(redis, keys, { taskId: 'ok-1', domain: 'backend', description: 'flaky' });
    await submitTask(redis, keys, { taskId: 'bad-1', domain: 'backend', description: 'bad' });
    await until('ok-1 to complete', async () => (await result('ok-1'))['status'] === 'completed', 15_000);
    const ok = await result('ok-1');
    expect(ok['attempts']).toBe('2');
    expect(JSON.parse(ok['output']!).summary).toBe('done on attempt 2');
    expect((await redis.lrange(keys.logs('ok-1'), 0, -1)).join('\n')).toMatch(/attempt 1 ended: llm_rate_limited: the model API is rate limiting/);

    await until('bad-1 to fail', async () => (await result('bad-1'))['status'] === 'failed');
    expect(await result('bad-1')).toMatchObject({ attempts: '1', error: 'path ../etc is outside the workspace' });
    // An operator's error code is not a way a task fails: it is recorded as internal.
    expect(JSON.parse((await result('bad-1'))['output']!).failure).toEqual({ code: 'internal', retryable: false });
  });

  it("fails a task whose retries are spent with the last attempt's code, marked retryable", async () => {
    startConsumer(async () => { throw LlmError.fromStatus(429, 'rate limited', { errorType: 'rate_limit_error' }); });
    await submitTask(redis, keys, { taskId: 'spent-1', domain: 'backend', description: 'x', extraMetadata: { max_attempts: 1 } });
    await until('spent-1 to fail', async () => (await result('spent-1'))['status'] === 'failed', 15_000);
    const output = JSON.parse((await result('spent-1'))['output']!) as Record<string, unknown>;
    expect(output['failure']).toEqual({ code: 'llm_rate_limited', retryable: true });
    expect(output['error']).toMatch(/rate limit/);
  });

  it('times a task out, stops its worker, and cancels the sub-tasks it queued', async () => {
    let aborted = false;
    startConsumer(async (ctx) => {
      await submitTask(redis, keys, { taskId: `${ctx.task.taskId}-frontend`, domain: 'frontend', description: 'child', parentId: ctx.task.taskId });
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted = true;
      throw ctx.signal.reason;
    });
    await submitTask(redis, keys, { taskId: 't-1', domain: 'backend', description: 'slow', timeoutSeconds: 1 });
    await until('t-1 to time out', async () => (await result('t-1'))['status'] === 'failed', 15_000);
    expect(aborted).toBe(true);
    expect((await result('t-1'))['error']).toBe('timed out after 1 s');
    expect(JSON.parse((await result('t-1'))['output']!).failure).toEqual({ code: 'timed_out', retryable: false });
    await until('the child to be cancelled', async () => (await result('t-1-frontend'))['status'] === 'failed');
    expect((await result('t-1-frontend'))['error']).toBe('cancelled: parent t-1 timed out');
  });

  it('fails a sub-task whose parent deadline passed before it started, without running it', async () => {
    let ran = false;
    startConsumer(async () => { ran = true; return { summary: 'ran' }; });
    await submitTask(redis, keys, { taskId: 'late-1', domain: 'backend', description: 'x', parentId: 'gone', extraMetadata: { deadline: new Date(Date.now() - 1000).toISOString() } });
    await until('late-1 to fail', async () => (await result('late-1'))['status'] === 'failed');
    expect((await result('late-1'))['error']).toMatch(/^its deadline .* \(from its parent's timeout\) passed before it started$/);
    expect(JSON.parse((await result('late-1'))['output']!).failure).toEqual({ code: 'timed_out', retryable: false });
    expect(ran).toBe(false);
  });

  it('bounds a sub-task by its parent deadline when that comes before its own timeout', async () => {
    startConsumer(async (ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      throw ctx.signal.reason;
    });
    await submitTask(redis, keys, { taskId: 'dl-1', domain: 'backend', description: 'x', timeoutSeconds: 600, extraMetadata: { deadline: new Date(Date.now() + 1500).toISOString() } });
    await until('dl-1 to fail', async () => (await result('dl-1'))['status'] === 'failed', 15_000);
    expect((await result('dl-1'))['error']).toMatch(/^timed out: its parent's deadline .* passed$/);
    expect(JSON.parse((await result('dl-1'))['output']!).failure).toEqual({ code: 'timed_out', retryable: false });
  });
});

describe('backpressure', () => {
  it('dead-letters raw pushes past DAN_MAX_QUEUE_DEPTH with the reason, and keeps the rest', async () => {
    for (let i = 1; i <= 5; i++) {
      await redis.lpush(keys.pending('backend'), JSON.stringify({ task_id: `bp-${i}`, payload: { description: `task ${i}` } }));
      await redis.hset(keys.result(`bp-${i}`), 'task_id', `bp-${i}`, 'status', 'pending');
    }
    const q = queue({ maxQueueDepth: 3 });
    const claimed = await q.claim(1);
    expect(claimed.map((t) => t.taskId)).toEqual(['bp-1']);
    const dead = (await redis.lrange(keys.dead('backend'), 0, -1)).map((d) => JSON.parse(d) as { id: string; task_id: string; reason: string; raw: string });
    expect(dead.map((d) => d.task_id).sort()).toEqual(['bp-4', 'bp-5']);
    expect(dead[0]!.reason).toMatch(/^queue full: 3 tasks already wait in backend \(DAN_MAX_QUEUE_DEPTH\)/);
    expect(dead[0]!.id).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.parse(dead[0]!.raw).task_id).toBe(dead[0]!.task_id);
    expect(await result('bp-5')).toMatchObject({ status: 'failed' });
    expect((await result('bp-5'))['error']).toMatch(/^dead-lettered: queue full/);
    expect(await queueDepth(redis, keys, 'backend')).toBe(2);
  });
});
