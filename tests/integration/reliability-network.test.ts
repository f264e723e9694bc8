import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
let network: TestNetwork;

const dan = (args: string[], extra: Record<string, string> = {}) =>
  runProcess(process.execPath, [bin, ...args], { env: cliEnv(network, extra), timeoutMs: 60_000 });

beforeAll(async () => {
  network = await startTestNetwork({
    env: { DAN_LLM_MAX_RETRIES: '0', DAN_RETRY_BASE_MS: '200', DAN_ELF: 'off' },
    rules: [
      // The model API throttles the first request of the run, as an overloaded API does.
      { name: 'throttle-once', when: { anyText: 'Write the throttled file' }, reply: { error: { status: 429, type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit' } }, times: 1 },
      // Work that takes long enough to be cancelled while it runs.
      { name: 'slow', when: { anyText: 'Take your time' }, reply: { text: 'still thinking', delay_ms: 60_000 } },
      ...defaultRules(),
    ],
  });
});
afterAll(async () => { await network.stop(); });

describe('reliability through the whole network', () => {
  it('retries a task whose model call was rate limited, and it completes on attempt 2', async () => {
    const { taskId } = await submitTask(network.redis, network.keys, { domain: 'backend', description: 'Write the throttled file: an API endpoint GET /health' });
    const hash = await network.waitFor(taskId, 60_000);
    expect(hash['status']).toBe('completed');
    expect(hash['attempts']).toBe('2');
    const logs = (await network.redis.lrange(network.keys.logs(taskId), 0, -1)).join('\n');
    expect(logs).toMatch(/failed: .*rate limit.* \(may pass on a retry\)/);
    expect(logs).toMatch(/attempt 1 ended: llm_rate_limited: .*rate limit.*; attempt 2 of 3 in 0\.\d s/);
    expect(logs).toMatch(/claimed task \(attempt 2 of 3/);
  });

  it('dan cancel stops a routed task, its sub-tasks and their running workers', async () => {
    const sent = await dan(['send', 'main', 'Take your time: add user registration with an API endpoint and a signup form']);
    expect(sent.code).toBe(0);
    const parent = sent.stdout.trim();
    // The plan runs backend first (the form needs the endpoint), so one sub-task runs at this point.
    const children = await until('the sub-task to run', async () => {
      const ids = await network.redis.smembers(network.keys.children(parent));
      const statuses = await Promise.all(ids.map((id) => network.redis.hget(network.keys.result(id), 'status')));
      return ids.length >= 1 && statuses.every((s) => s === 'in_progress') ? ids.sort() : undefined;
    }, 45_000);

    const cancelled = await dan(['cancel', parent, '--reason', 'wrong ticket', '--json']);
    expect(cancelled.code).toBe(0);
    const report = JSON.parse(cancelled.stdout) as { task_id: string; outcome: string; children: { task_id: string; outcome: string; was_running_on: string | null }[] }[];
    expect(report[0]).toMatchObject({ task_id: parent, outcome: 'cancelled' });
    expect(report[0]!.children.map((c) => [c.task_id, c.outcome])).toEqual(children.map((id) => [id, 'cancelled']));
    expect(report[0]!.children.every((c) => c.was_running_on !== null)).toBe(true);

    for (const id of [parent, ...children]) {
      expect(await network.redis.hgetall(network.keys.result(id))).toMatchObject({ status: 'failed', error: 'cancelled' });
    }
    // The step that waited for the cancelled one is never queued.
    expect(await network.redis.smembers(network.keys.children(parent))).toEqual(children);
    // Each domain agent stopped the worker it was running (the model call was 60 s from answering).
    for (const id of children) {
      await until(`the worker of ${id} to stop`, async () => (await network.redis.lrange(network.keys.logs(id), 0, -1)).some((l) => l.includes('cancelled; its work was stopped')), 15_000);
    }
    expect((await network.redis.lrange(network.keys.logs(parent), 0, -1)).join('\n')).toMatch(/cancelled: wrong ticket/);

    const again = await dan(['cancel', parent]);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/already failed; nothing to cancel/);
    const missing = await dan(['cancel', 'no-such-task']);
    expect(missing.code).toBe(2);
    expect(missing.stdout).toMatch(/no-such-task: no such task/);
  });

  it('dan send refuses a task with exit 4 once the domain queue is full, and --max-attempts reaches the task', async () => {
    // A prefix nobody serves, so the queue only grows.
    const prefix = uniquePrefix('full');
    const env = { DAN_KEY_PREFIX: prefix, DAN_MAX_QUEUE_DEPTH: '2' };
    for (const n of [1, 2]) expect((await dan(['send', 'backend', `task ${n}`, '--max-attempts', '5'], env)).code).toBe(0);
    const refused = await dan(['send', 'backend', 'task 3'], env);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/the backend queue is full: 2 tasks wait \(DAN_MAX_QUEUE_DEPTH=2\)/);
    const queued = await network.redis.lrange(`${prefix}tasks:pending:backend`, 0, -1);
    expect(queued).toHaveLength(2);
    expect(queued.map((raw) => (JSON.parse(raw) as { metadata: { max_attempts: number } }).metadata.max_attempts)).toEqual([5, 5]);
    const bad = await dan(['send', 'backend', 'task 4', '--max-attempts', '0'], { ...env, DAN_MAX_QUEUE_DEPTH: '0' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-attempts must be a whole number of at least 1/);
    const keys = await network.redis.keys(`${prefix}*`);
    if (keys.length > 0) await network.redis.del(...keys);
  });
});
