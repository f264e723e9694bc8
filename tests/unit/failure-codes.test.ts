import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { DanError, InvalidInputError, toFailure } from '../../lib/errors.js';
import { LlmError } from '../../lib/llm/llm-error.js';
import { silentLogger } from '../../lib/logger.js';
import { FailureCode, readFailure, teachesAboutWork } from '../../lib/protocol/failure.js';
import { emptyUsage } from '../../lib/protocol/result.js';
import { parseTask } from '../../lib/protocol/task.js';
import type { TaskContext } from '../../lib/runtime/task-consumer.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import { createDomainHandler } from '../../src/domain/domain-handler.js';
import { selectWorkers } from '../../src/domain/worker-selection.js';
import type { WorkerResult, WorkerRuntime } from '../../src/worker/worker-runtime.js';

const root = path.resolve(import.meta.dirname, '../..');
const backend = loadAgentCatalog(path.join(root, 'agents')).domain('backend')!;

/** A worker runtime of our own interface whose `db` worker throws `error`; the others complete. */
function runtimeThrowing(error: unknown): WorkerRuntime {
  return {
    name: 'fake',
    async run(job): Promise<WorkerResult> {
      if (job.worker.name === 'db') throw error;
      return { summary: 'done', files_created: [], files_modified: [], usage: emptyUsage(), turns: 1, model: 'm' };
    },
  };
}

/** The failure a backend task ends with when its `db` worker throws `error`. */
async function domainFailure(error: unknown): Promise<TaskFailedError> {
  const parsed = parseTask(JSON.stringify({ task_id: 't-1', payload: { description: 'Add a users table migration and a POST /api/users endpoint' } }));
  if (parsed.kind !== 'ok') throw new Error('bad fixture');
  const ctx: TaskContext = {
    task: parsed.task, signal: new AbortController().signal, deadline: Date.now() + 60_000, log: async () => undefined,
    claimed: { taskId: 't-1', raw: '', attempt: 1, token: 'x', priority: 'normal', domain: 'backend' },
  };
  const handler = createDomainHandler({
    domain: backend, catalog: loadAgentCatalog(path.join(root, 'agents')), agentId: 'backend-12345678', logger: silentLogger,
    runtime: async () => runtimeThrowing(error), select: async (task) => selectWorkers(task, backend, 3),
    lifecycle: { started: async () => undefined, finished: async () => undefined },
  });
  const thrown = await handler(ctx).catch((e: unknown) => e);
  expect(thrown).toBeInstanceOf(TaskFailedError);
  return thrown as TaskFailedError;
}

describe('failures as data', () => {
  it('keeps a listed code, and reads an operator code or a bare error as internal', () => {
    expect(toFailure(new DanError(FailureCode.workerCrashed, 'crashed', { retryable: true }))).toEqual({ code: 'worker_crashed', message: 'crashed', retryable: true });
    expect(toFailure(new InvalidInputError('bad --timeout')).code).toBe('internal');
    expect(toFailure(new Error('boom\nsecond line'))).toEqual({ code: 'internal', message: 'boom second line', retryable: false });
    const abort = new Error('stopped');
    abort.name = 'AbortError';
    expect(toFailure(abort).code).toBe('aborted');
  });

  it("fails a domain task with its failing worker's code: the model API's, a crash, or worker_failed", async () => {
    const throttled = await domainFailure(LlmError.fromStatus(429, 'slow down'));
    expect([throttled.code, throttled.retryable]).toEqual(['llm_rate_limited', true]);
    const crashed = await domainFailure(new DanError(FailureCode.workerCrashed, 'exited with SIGKILL', { retryable: true }));
    expect([crashed.code, crashed.retryable]).toEqual(['worker_crashed', true]);
    const unusable = await domainFailure(new DanError(FailureCode.invalidFinalAnswer, 'no JSON object'));
    expect([unusable.code, unusable.retryable]).toEqual(['invalid_final_answer', false]);
    const broke = await domainFailure(new Error('db broke'));
    expect([broke.code, broke.retryable, broke.message]).toEqual(['worker_failed', false, 'worker db failed: db broke']);
  });

  it('reads output.failure tolerantly: missing or malformed is undefined, an unlisted code is internal', () => {
    expect(readFailure({ error: 'x', failure: { code: 'timed_out', retryable: false } })).toEqual({ code: 'timed_out', retryable: false });
    expect(readFailure({ failure: { code: 'from_the_future', retryable: true } })).toEqual({ code: 'internal', retryable: true });
    expect(readFailure({ error: 'cancelled' })).toBeUndefined();
    expect(readFailure({ failure: 'cancelled' })).toBeUndefined();
    expect(readFailure(null)).toBeUndefined();
  });

  it('teaches ELF nothing from a cancel, refused input or a failing infrastructure, and something from failed work', () => {
    for (const code of ['cancelled', 'invalid_task', 'queue_full', 'lease_expired', 'llm_rate_limited'] as const) expect(teachesAboutWork(code)).toBe(false);
    for (const code of ['worker_failed', 'timed_out', 'farm_failed', 'internal'] as const) expect(teachesAboutWork(code)).toBe(true);
  });

  it('lists every failure code in the README, with whether ELF learns from it', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Failures as data'), readme.indexOf('### Cancellation and deadlines'));
    const rows = section.split('\n').filter((line) => line.startsWith('| `'));
    for (const code of Object.values(FailureCode)) {
      const row = rows.find((line) => line.split('|')[1]!.includes(`\`${code}\``));
      expect(row, `README's "Failures as data" table lacks \`${code}\``).toBeDefined();
      expect(row!.split('|')[3]!.trim().startsWith(teachesAboutWork(code) ? 'yes' : 'no'), `README says the wrong thing about ELF and \`${code}\``).toBe(true);
    }
    const listed = rows.flatMap((line) => [...line.split('|')[1]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]));
    expect(listed.filter((code) => !Object.values<string>(FailureCode).includes(code!))).toEqual([]);
  });
});
