import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readResultHash } from '../../lib/protocol/result.js';
import { buildTaskJson, isValidTaskId } from '../../lib/protocol/task.js';
import { farmPathProblem } from '../../src/operations/farm-access.js';
import { retryTask, retryTaskId } from '../../src/operations/retry-job.js';

describe('retryTaskId', () => {
  it('numbers the retries of one job: <id>.r1, then .r2 for a retry of that', () => {
    expect(retryTaskId('job-42')).toBe('job-42.r1');
    expect(retryTaskId('job-42.r1')).toBe('job-42.r2');
    expect(retryTaskId('job-42.r9')).toBe('job-42.r10');
    expect(retryTaskId('a.release')).toBe('a.release.r1');
  });

  it('keeps a long id within the id rule, the same every time', () => {
    const long = `x${'y'.repeat(127)}`;
    const first = retryTaskId(long);
    expect(isValidTaskId(first)).toBe(true);
    expect(first).toBe(retryTaskId(long));
    expect(first).toMatch(/\.r1$/);
    const second = retryTaskId(first);
    expect(isValidTaskId(second)).toBe(true);
    expect(second).toMatch(/\.r2$/);
  });
});

describe('retryTask', () => {
  const input = buildTaskJson({
    domain: 'backend', description: 'Add a health endpoint', type: 'task_assignment', source: 'api', requirements: ['tested'],
    context: { ticket: 7 }, priority: 'high', timeoutSeconds: 120, extraMetadata: { client_id: 'acme', max_attempts: 2, deadline: '2026-12-01T00:02:00.000Z' },
  }, 'job-7', '2026-12-01T00:00:00.000Z');
  const failed = (fields: Record<string, string>) => readResultHash('job-7', { task_id: 'job-7', status: 'failed', domain: 'backend', client_id: 'acme', error: 'crashed', ...fields })!;

  it('sends the input again under the next id, linked to the old job, without its old deadline', () => {
    expect(retryTask(failed({ input }))).toEqual({
      taskId: 'job-7.r1', domain: 'backend', description: 'Add a health endpoint', type: 'task_assignment', source: 'api', requirements: ['tested'],
      context: { ticket: 7 }, priority: 'high', timeoutSeconds: 120, extraPayload: {}, extraMetadata: { client_id: 'acme', max_attempts: 2, retry_of: 'job-7' },
    });
  });

  it('refuses a job whose input is not kept, a sub-task, and input that is no task', () => {
    expect(() => retryTask(failed({}))).toThrow(/input is not kept: send it again with POST \/jobs/);
    expect(() => retryTask(failed({ input, parent_id: 'job-1' }))).toThrow(/sub-task of 'job-1': retry that job/);
    expect(() => retryTask(failed({ input: '{"task_id":"job-7"' }))).toThrow(/cannot be sent again/);
  });
});

describe('farmPathProblem', () => {
  const config = { workspace: '/srv/work', farm: { roots: ['/srv/other'] } } as Parameters<typeof farmPathProblem>[0];

  it("keeps a client's farm in its own folder; default may also use DAN_FARM_ROOTS", () => {
    expect(farmPathProblem(config, 'acme', 'shop')).toBeUndefined();
    expect(farmPathProblem(config, 'acme', '/srv/work/clients/acme/shop')).toBeUndefined();
    expect(farmPathProblem(config, 'acme', '../globex/shop')).toContain(`resolves to ${path.resolve('/srv/work/clients/globex/shop')}, outside the workspace of client 'acme'`);
    expect(farmPathProblem(config, 'acme', '/srv/other/repo')).toContain('outside the workspace');
    expect(farmPathProblem(config, 'default', '/srv/other/repo')).toBeUndefined();
    expect(farmPathProblem(config, 'default', '/etc')).toContain("outside the workspace of client 'default'");
  });
});
