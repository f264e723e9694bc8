import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { silentLogger } from '../../lib/logger.js';
import { emptyUsage } from '../../lib/protocol/result.js';
import { parseTask } from '../../lib/protocol/task.js';
import type { ClaimedTask } from '../../lib/redis/task-queue.js';
import type { TaskContext } from '../../lib/runtime/task-consumer.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import { createDomainHandler } from '../../src/domain/domain-handler.js';
import { selectWorkers } from '../../src/domain/worker-selection.js';
import type { WorkerJob, WorkerResult, WorkerRuntime } from '../../src/worker/worker-runtime.js';

const catalog = loadAgentCatalog(path.resolve(import.meta.dirname, '../../agents'));
const backend = catalog.domain('backend')!;

/** A worker runtime of our own interface: each worker "writes" one file, or fails when told to. */
class FakeRuntime implements WorkerRuntime {
  readonly name = 'fake';
  readonly jobs: WorkerJob[] = [];
  constructor(private readonly failing: string[] = []) {}
  async run(job: WorkerJob): Promise<WorkerResult> {
    this.jobs.push(job);
    if (this.failing.includes(job.worker.name)) throw new Error(`${job.worker.name} broke`);
    return { summary: `${job.worker.name} did it`, files_created: [`${job.worker.name}.ts`], files_modified: ['shared.ts'], usage: { ...emptyUsage(), input_tokens: 10, output_tokens: 5 }, turns: 2, model: 'm' };
  }
}

function context(description: string): { ctx: TaskContext; lines: string[] } {
  const outcome = parseTask(JSON.stringify({ task_id: 't-1', payload: { description } }));
  if (outcome.kind !== 'ok') throw new Error('bad fixture');
  const lines: string[] = [];
  const claimed: ClaimedTask = { taskId: 't-1', raw: '', attempt: 1, token: 'x', priority: 'normal', domain: 'backend' };
  return { ctx: { task: outcome.task, claimed, signal: new AbortController().signal, deadline: Date.now() + 60_000, log: async (m) => { lines.push(m); } }, lines };
}

function handler(runtime: WorkerRuntime, registered: string[] = []) {
  return createDomainHandler({
    domain: backend, catalog, agentId: 'backend-12345678', logger: silentLogger, runtime: async () => runtime,
    select: async (task) => selectWorkers(task, backend, 3),
    lifecycle: { started: async (id) => { registered.push(id); }, finished: async () => undefined },
  });
}

describe('domain handler', () => {
  it('runs workers wave by wave, hands earlier work to later workers, and reports the union of files', async () => {
    const runtime = new FakeRuntime();
    const registered: string[] = [];
    const { ctx } = context('Add a users table migration and a POST /api/users endpoint');
    const output = await handler(runtime, registered)(ctx);
    const order = runtime.jobs.map((j) => j.worker.name);
    expect(order).toEqual(['db', 'api']);
    expect(runtime.jobs.find((j) => j.worker.name === 'api')!.prior.map((p) => p.worker)).toContain('db');
    expect(output['files_created']).toEqual(expect.arrayContaining(['api.ts', 'db.ts']));
    expect(output['files_modified']).toEqual(['shared.ts']);
    expect(output['workers_used']).toEqual(order);
    expect((output['usage'] as { input_tokens: number }).input_tokens).toBe(10 * order.length);
    expect(registered.every((id) => id.startsWith('backend-12345678-'))).toBe(true);
  });

  it('fails the task naming the worker, skips the workers after it, and still reports what ran', async () => {
    const runtime = new FakeRuntime(['db']);
    const { ctx } = context('Add a users table migration and a POST /api/users endpoint');
    const error = await handler(runtime)(ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).message).toBe('worker db failed: db broke');
    const workers = (error as TaskFailedError).output['workers'] as Record<string, { status: string }>;
    expect(workers['db']!.status).toBe('failed');
    expect(workers['api']!.status).toBe('skipped');
    expect(runtime.jobs.map((j) => j.worker.name)).not.toContain('api');
  });

  it('answers an echo without any worker', async () => {
    const runtime = new FakeRuntime();
    const outcome = parseTask('{"task_id": "e", "type": "echo", "payload": {"message": "hi"}}');
    if (outcome.kind !== 'ok') throw new Error('bad fixture');
    const output = await handler(runtime)({ ...context('x').ctx, task: outcome.task });
    expect(output).toEqual({ summary: 'echo', echo: { message: 'hi' }, files_created: [], files_modified: [] });
    expect(runtime.jobs).toEqual([]);
  });
});
