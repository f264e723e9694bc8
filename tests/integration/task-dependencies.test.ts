import { afterAll, describe, expect, it } from 'vitest';
import { Keys } from '../../lib/redis/keys.js';
import { buildTaskJson } from '../../lib/protocol/task.js';
import { readFailure } from '../../lib/protocol/failure.js';
import { parseWorkflow } from '../../lib/protocol/workflow-file.js';
import type { WaitingTask } from '../../lib/redis/task-dependencies.js';
import { submitAfter, withDependencyResults } from '../../lib/redis/task-dependencies.js';
import type { ClaimedTask } from '../../lib/redis/task-queue.js';
import { TaskQueue } from '../../lib/redis/task-queue.js';
import { cancelTask } from '../../lib/redis/cancel-task.js';
import { getResult, submitTask } from '../../lib/redis/task-store.js';
import { queueStates, waitingCount } from '../../lib/redis/queue-counts.js';
import { parseTask } from '../../lib/protocol/task.js';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { aclRules } from '../../lib/redis/acl.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { graphLines, stepTaskId, submitWorkflow, workflowGraph } from '../../src/operations/workflows.js';
import type { Config } from '../../lib/config.js';

const prefix = uniquePrefix('deps');
const keys = new Keys(prefix);
const connected = connectTestRedis(prefix);
afterAll(async () => (await connected).cleanup());
const retentionMs = 3_600_000;

function queue(domain: string, redis: Awaited<typeof connected>['redis']): TaskQueue {
  return new TaskQueue(redis, keys, { domain, agentId: `${domain}-test`, leaseMs: 30_000, retentionMs, maxAttempts: 1, housekeepingMs: 0 });
}

function waiting(taskId: string, after: string[], extra: Partial<WaitingTask> = {}): WaitingTask {
  const raw = buildTaskJson({ domain: 'backend', description: `do ${taskId}`, extraMetadata: { depends_on: after } }, taskId, new Date().toISOString());
  return { taskId, raw, domain: 'backend', description: `do ${taskId}`, after, runIf: 'success', kind: 'task', ...extra };
}

/** Claims everything queued on `backend` now, by id. */
async function claimAll(q: TaskQueue): Promise<Map<string, ClaimedTask>> {
  const claimed = await q.claim(50);
  return new Map(claimed.map((c) => [c.taskId, c]));
}

describe('tasks that wait on tasks', () => {
  it('stay waiting until every dependency completed, then are queued once, with the results in their context', async () => {
    const { redis } = await connected;
    const q = queue('backend', redis);
    const a = (await submitTask(redis, keys, { taskId: 'a1', domain: 'backend', description: 'schema' })).taskId;
    const b = (await submitTask(redis, keys, { taskId: 'b1', domain: 'backend', description: 'seed' })).taskId;
    await submitAfter(redis, keys, [waiting('c1', [a, b])], { retentionMs });
    expect((await getResult(redis, keys, 'c1'))?.status).toBe('waiting');
    const first = await claimAll(q);
    expect([...first.keys()].sort()).toEqual(['a1', 'b1']);
    await q.finish(first.get('a1') as ClaimedTask, { status: 'completed', output: { summary: 'made the schema', files_created: ['schema.sql'], files_modified: [], branch: 'dan/a1' } });
    expect((await getResult(redis, keys, 'c1'))?.status).toBe('waiting');
    expect((await claimAll(q)).size).toBe(0);
    await q.finish(first.get('b1') as ClaimedTask, { status: 'completed', output: { summary: 'seeded', files_created: [], files_modified: ['seed.sql'] } });
    expect((await getResult(redis, keys, 'c1'))?.status).toBe('pending');
    const second = await claimAll(q);
    expect([...second.keys()]).toEqual(['c1']);
    const parsed = parseTask((second.get('c1') as ClaimedTask).raw);
    if (parsed.kind !== 'ok') throw new Error(parsed.reason);
    expect(await withDependencyResults(redis, keys, parsed.task)).toBeUndefined();
    expect(parsed.task.context['depends_on_results']).toMatchObject({
      a1: { status: 'completed', summary: 'made the schema', files_created: ['schema.sql'], branch: 'dan/a1' },
      b1: { status: 'completed', files_modified: ['seed.sql'] },
    });
    expect(await redis.exists(keys.waitRecord('c1'), keys.dependents('a1'), keys.dependents('b1'))).toBe(0);
  });

  it('fail with dependency_failed when one fails or is cancelled, down the chain; run_if always runs anyway', async () => {
    const { redis } = await connected;
    const q = queue('backend', redis);
    await submitTask(redis, keys, { taskId: 'a2', domain: 'backend', description: 'migrate' });
    await submitAfter(redis, keys, [waiting('b2', ['a2']), waiting('c2', ['b2']), waiting('d2', ['a2'], { runIf: 'always' })], { retentionMs });
    const claimed = await claimAll(q);
    await q.finish(claimed.get('a2') as ClaimedTask, { status: 'failed', output: {}, error: 'the migration broke' });
    const b = await getResult(redis, keys, 'b2');
    expect(b?.status).toBe('failed');
    expect(readFailure(b?.output)?.code).toBe('dependency_failed');
    expect(b?.error).toContain('a2 failed: the migration broke');
    expect(readFailure((await getResult(redis, keys, 'c2'))?.output)?.code).toBe('dependency_failed');
    expect((await getResult(redis, keys, 'd2'))?.status).toBe('pending');
    expect([...(await claimAll(q)).keys()]).toEqual(['d2']);

    await submitTask(redis, keys, { taskId: 'a3', domain: 'backend', description: 'build' });
    await submitAfter(redis, keys, [waiting('b3', ['a3'])], { retentionMs });
    await cancelTask(redis, keys, 'a3', { by: 'test', retentionMs });
    expect(readFailure((await getResult(redis, keys, 'b3'))?.output)?.code).toBe('dependency_failed');
    // A waiting task cancelled is not released later.
    await submitTask(redis, keys, { taskId: 'a4', domain: 'backend', description: 'lint' });
    await submitAfter(redis, keys, [waiting('b4', ['a4'])], { retentionMs });
    await cancelTask(redis, keys, 'b4', { by: 'test', retentionMs });
    // Its wait record and its place among a4's dependents go with the cancel, not at a4's end.
    expect(await redis.exists(keys.waitRecord('b4'))).toBe(0);
    expect(await redis.sismember(keys.dependents('a4'), 'b4')).toBe(0);
    expect(readFailure((await getResult(redis, keys, 'b4'))?.output)?.code).toBe('cancelled');
    const drained = await claimAll(q);
    expect([...drained.keys()]).toContain('a4');
    await q.finish(drained.get('a4') as ClaimedTask, { status: 'completed', output: { summary: 'ok' } });
    expect((await getResult(redis, keys, 'b4'))?.status).toBe('failed');
    expect((await claimAll(q)).size).toBe(0);
  });

  it("are counted apart from their domain's queue (no agent starts for them), until released, failed or cancelled", async () => {
    const { redis } = await connected;
    const q = queue('counted', redis);
    await submitTask(redis, keys, { taskId: 'n1', domain: 'counted', description: 'first' });
    const on = (id: string, after: string[]) => ({ ...waiting(id, after), domain: 'counted' });
    await submitAfter(redis, keys, [on('n2', ['n1']), on('n3', ['n1']), on('n4', ['n3'])], { retentionMs });
    const counted = async () => {
      const [states] = await queueStates(redis, keys, ['counted']);
      return { backlog: waitingCount(states!), after: states!.dependencyWaiting };
    };
    expect(await counted()).toEqual({ backlog: 1, after: 3 });
    await cancelTask(redis, keys, 'n4', { by: 'test', retentionMs });
    expect(await counted()).toEqual({ backlog: 1, after: 2 });
    const [first] = await q.claim(1);
    await q.finish(first as ClaimedTask, { status: 'completed', output: { summary: 'ok' } });
    expect(await counted()).toEqual({ backlog: 2, after: 0 });
  });

  it('fail a chain of 500 waiting tasks in the one step that ends its first', async () => {
    const { redis } = await connected;
    await submitTask(redis, keys, { taskId: 'chain-0', domain: 'chain', description: 'root' });
    const chain = Array.from({ length: 500 }, (_, i) => waiting(`chain-${i + 1}`, [`chain-${i}`]));
    await submitAfter(redis, keys, chain, { retentionMs });
    const [root] = await queue('chain', redis).claim(1);
    await queue('chain', redis).finish(root as ClaimedTask, { status: 'failed', output: {}, error: 'root broke' });
    const last = await getResult(redis, keys, 'chain-500');
    expect(last?.status).toBe('failed');
    expect(last?.error).toContain('chain-499 failed');
  });

  it('refuse unknown ids, another client\'s task and a failed one at submit, writing nothing', async () => {
    const { redis } = await connected;
    await expect(submitAfter(redis, keys, [waiting('x1', ['nope'])], { retentionMs })).rejects.toThrow(/cannot wait on nope: no such task/);
    await submitTask(redis, keys, { taskId: 'theirs', domain: 'backend', description: 'x', extraMetadata: { client_id: 'acme' } });
    await expect(submitAfter(redis, keys, [waiting('x2', ['theirs'])], { retentionMs })).rejects.toThrow(/belongs to another client/);
    expect(await redis.exists(keys.result('x1'), keys.result('x2'), keys.dependents('theirs'))).toBe(0);
    expect((await getResult(redis, keys, 'b2'))?.status).toBe('failed');
    await expect(submitAfter(redis, keys, [waiting('x3', ['b2'])], { retentionMs })).rejects.toThrow(/failed already/);
  });

  it('may be sent by the client Redis user (dan send runs as it), which may write nothing else of the layout', async () => {
    const { redis } = await connected;
    const name = `client-${randomBytes(4).toString('hex')}`;
    const password = randomBytes(16).toString('hex');
    await redis.call('ACL', 'SETUSER', name, 'reset', 'on', `>${password}`, ...aclRules('client', prefix));
    const url = new URL(testRedisUrl());
    url.username = name;
    url.password = password;
    const client = new Redis(url.toString(), { maxRetriesPerRequest: 1 });
    try {
      await submitTask(client, keys, { taskId: 'acl-a', domain: 'backend', description: 'first' });
      // A workflow's step: a child of its workflow (SADD and PEXPIRE of dan:children).
      await submitAfter(client, keys, [waiting('acl-b', ['acl-a'], { parentId: 'acl-p' })], { retentionMs });
      expect(await redis.smembers(keys.children('acl-p'))).toEqual(['acl-b']);
      expect((await getResult(redis, keys, 'acl-b'))?.status).toBe('waiting');
      await expect(client.del(keys.result('acl-b'))).rejects.toThrow(/NOPERM/);
    } finally {
      client.disconnect();
      await redis.call('ACL', 'DELUSER', name);
    }
  });

  it('refuse a task pushed straight to a queue with depends_on: it was not released by its dependencies', async () => {
    const { redis } = await connected;
    const parsed = parseTask(buildTaskJson({ domain: 'backend', description: 'x', extraMetadata: { depends_on: ['a1'] } }, 'raw1', new Date().toISOString()));
    if (parsed.kind !== 'ok') throw new Error(parsed.reason);
    expect(await withDependencyResults(redis, keys, parsed.task)).toMatch(/pushed straight to a queue/);
  });
});

describe('workflows', () => {
  const config = { retentionMs, taskLimits: { maxTaskBytes: 0, maxDescriptionBytes: 0, maxContextBytes: 0 }, domainsDir: '/nonexistent' } as unknown as Config;
  const file = [
    'name: fan',
    'steps:',
    '  schema: {description: make the schema, domain: main}',
    '  api: {description: the API, needs: schema}',
    '  ui: {description: the UI, needs: [schema]}',
    '  docs: {description: write docs, needs: [api, ui], run_if: always}',
  ].join('\n');

  it('run steps in the order of their needs, and the workflow ends when they all have', async () => {
    const { redis } = await connected;
    const parsed = parseWorkflow(file);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const { workflowId } = await submitWorkflow(redis, keys, config, parsed.workflow, { source: 'test', workflowId: 'wf1' });
    const q = queue('main', redis);
    const round = async (): Promise<string[]> => {
      const claimed = await claimAll(q);
      for (const c of claimed.values()) await q.finish(c, c.taskId.endsWith('.ui') ? { status: 'failed', output: {}, error: 'no' } : { status: 'completed', output: { summary: c.taskId } });
      return [...claimed.keys()].sort();
    };
    expect(await round()).toEqual(['wf1.schema']);
    expect(await round()).toEqual(['wf1.api', 'wf1.ui']);
    expect(await round()).toEqual(['wf1.docs']);
    expect(await round()).toEqual([]);
    const result = await getResult(redis, keys, workflowId);
    expect(result?.status).toBe('failed');
    expect(readFailure(result?.output)?.code).toBe('child_failed');
    expect(result?.error).toContain(stepTaskId('wf1', 'ui'));
    const graph = await workflowGraph(redis, keys, workflowId);
    expect(graphLines(graph ?? [])).toEqual([
      'schema [completed]',
      '  api [completed] needs schema',
      '  ui [failed] needs schema - no',
      '    docs [completed] needs api, ui',
    ]);
  });
});
