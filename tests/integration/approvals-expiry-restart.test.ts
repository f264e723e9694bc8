import { afterAll, describe, expect, it } from 'vitest';
import { buildTaskJson } from '../../lib/protocol/task.js';
import { readFailure } from '../../lib/protocol/failure.js';
import { submitAfter } from '../../lib/redis/task-dependencies.js';
import { getResult, submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

/**
 * Approval windows are swept by the main orchestrator alone. A window that passes while no main runs is
 * noticed by the next main as it starts: the gated task fails `approval_timeout`, and a task waiting on
 * it ends `dependency_failed` in the same step, never run.
 */
describe('an approval window that passed while main was down', () => {
  const prefix = uniquePrefix('approval-expiry');
  const connected = connectTestRedis(prefix);
  let network: TestNetwork | undefined;
  afterAll(async () => {
    await network?.stop().catch(() => undefined);
    await (await connected).cleanup();
  });

  it('fails the gated task approval_timeout once a main is back, and its dependent dependency_failed', async () => {
    const redis = { url: testRedisUrl(), prefix };
    network = await startTestNetwork({ redis });
    const { taskId } = await submitTask(network.redis, network.keys, {
      domain: 'backend', description: 'Rotate the deploy keys', type: 'echo', extraMetadata: { approval: true, approval_timeout_seconds: 3600 },
    });
    const dependent = `${taskId}-after`;
    const raw = buildTaskJson({ domain: 'backend', description: 'announce the rotation', extraMetadata: { depends_on: [taskId] } }, dependent, new Date().toISOString());
    await submitAfter(network.redis, network.keys, [{ taskId: dependent, raw, domain: 'backend', description: 'announce', after: [taskId], runIf: 'success', kind: 'task' }], { retentionMs: 60_000 });
    await until('the task to await approval', async () => (await network!.redis.hget(network!.keys.result(taskId), 'status')) === 'awaiting_approval', 30_000);

    // Every dan process stops; while none runs, the window ends (moved to a second ago, by Redis' clock).
    await network.halt();
    const [seconds] = (await network.redis.time()) as [string | number, string | number];
    await network.redis.zadd(network.keys.approvals(), Number(seconds) * 1000 - 1000, taskId);
    expect(await network.redis.hget(network.keys.result(taskId), 'status')).toBe('awaiting_approval');
    expect(await network.redis.hget(network.keys.result(dependent), 'status')).toBe('waiting');
    network.redis.disconnect();

    network = await startTestNetwork({ redis });
    const gated = await network.waitFor(taskId);
    expect(gated['status']).toBe('failed');
    expect(JSON.parse(gated['output']!)).toMatchObject({ failure: { code: 'approval_timeout' } });
    const after = await getResult(network.redis, network.keys, dependent);
    expect(after?.status).toBe('failed');
    expect(readFailure(after?.output)?.code).toBe('dependency_failed');
    expect(after?.error).toContain(`its dependency ${taskId} failed: approval_timeout`);
    expect(await network.redis.exists(network.keys.waitRecord(dependent))).toBe(0);
    // It never reached a queue, so no agent ever claimed it.
    expect(await network.redis.llen(network.keys.logs(dependent))).toBe(1);
  }, 90_000);
});
