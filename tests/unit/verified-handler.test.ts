import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CheckPlace } from '../../lib/checks/check-runner.js';
import { FailureCode } from '../../lib/protocol/failure.js';
import { parseTask, type Task } from '../../lib/protocol/task.js';
import type { ClaimedTask } from '../../lib/redis/task-queue.js';
import type { TaskContext, TaskHandler } from '../../lib/runtime/task-consumer.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import { RefusingSandbox, UnsandboxedRunner } from '../../lib/sandbox/unsandboxed-runner.js';
import { createVerifiedHandler } from '../../src/domain/verified-handler.js';

let dir: string;
beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'dan-verified-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function context(metadata: Record<string, unknown> = {}, type = 'task_assignment'): TaskContext {
  const outcome = parseTask(JSON.stringify({ task_id: 't-1', type, payload: { description: 'add a sum function' }, metadata }));
  if (outcome.kind !== 'ok') throw new Error(`bad fixture: ${outcome.reason}`);
  const claimed: ClaimedTask = { taskId: 't-1', raw: '', attempt: 1, token: 'x', priority: 'normal', domain: 'backend' };
  return { task: outcome.task, claimed, signal: new AbortController().signal, deadline: Date.now() + 60_000, log: async () => undefined };
}

/** Workers of our own handler interface: each round writes `sum.txt`, "fixed" from the round `fixesIn` on. */
function workers(fixesIn: number | undefined, fail?: { inRound: number }) {
  const tasks: Task[] = [];
  const handler: TaskHandler = async ({ task }) => {
    tasks.push(task);
    if (fail && tasks.length === fail.inRound) throw new TaskFailedError('worker api failed: broke', { summary: '', files_created: [], files_modified: [] }, FailureCode.workerFailed);
    writeFileSync(path.join(dir, 'sum.txt'), fixesIn !== undefined && tasks.length >= fixesIn ? 'fixed\n' : 'broken\n');
    return { summary: `round ${tasks.length}`, files_created: tasks.length === 1 ? ['sum.txt'] : [], files_modified: tasks.length === 1 ? [] : ['sum.txt'] };
  };
  return { handler, tasks };
}

const place = (): CheckPlace => ({ sandbox: new UnsandboxedRunner('off'), cwd: dir, timeoutMs: 30_000, maxOutputBytes: 64 * 1024 });
const CHECK = 'cat sum.txt && grep -q fixed sum.txt';

describe('createVerifiedHandler', () => {
  it('runs the workers once and records no checks when there are none', async () => {
    const w = workers(undefined);
    const output = await createVerifiedHandler({ workers: w.handler, domainChecks: [], place, rounds: 3 })(context());
    expect(w.tasks).toHaveLength(1);
    expect(output).toMatchObject({ summary: 'round 1', checks: [] });
  });

  it('leaves an echo task as it was', async () => {
    const w = workers(undefined);
    const output = await createVerifiedHandler({ workers: w.handler, domainChecks: [CHECK], place, rounds: 3 })(context({}, 'echo'));
    expect(output['checks']).toBeUndefined();
  });

  it("gives the next round the failed check's exit code and output, and completes when it passes", async () => {
    const w = workers(2);
    const output = await createVerifiedHandler({ workers: w.handler, domainChecks: [CHECK], place, rounds: 3 })(context());
    expect(w.tasks).toHaveLength(2);
    expect(w.tasks[0]?.context['failed_checks']).toBeUndefined();
    expect(w.tasks[1]?.context['failed_checks']).toEqual([{ command: CHECK, exit_code: 1, output_tail: 'broken' }]);
    expect(output).toMatchObject({ summary: 'round 2', rounds: 2, files_created: ['sum.txt'], files_modified: [] });
    expect((output['checks'] as { ok: boolean; round: number }[]).map((c) => [c.round, c.ok])).toEqual([[1, false], [2, true]]);
  });

  it('fails verification_failed once, after the last round, with every check that ran', async () => {
    const w = workers(undefined);
    const error = await createVerifiedHandler({ workers: w.handler, domainChecks: [CHECK], place, rounds: 2 })(context()).catch((e: unknown) => e);
    expect(w.tasks).toHaveLength(2);
    expect(error).toBeInstanceOf(TaskFailedError);
    const failed = error as TaskFailedError;
    expect(failed.code).toBe(FailureCode.verificationFailed);
    expect(failed.message).toBe(`check \`${CHECK}\` still failed after 2 round(s) (exit 1): broken`);
    expect(failed.output['checks']).toHaveLength(2);
  });

  it("runs the task's checks in place of the domain's when it asks to", async () => {
    const w = workers(undefined);
    const output = await createVerifiedHandler({ workers: w.handler, domainChecks: [CHECK], place, rounds: 3 })(context({ verify: ['test -f sum.txt'], verify_mode: 'replace' }));
    expect((output['checks'] as { command: string }[]).map((c) => c.command)).toEqual(['test -f sum.txt']);
  });

  it("keeps a worker's own failure code, with the checks of the rounds before", async () => {
    const w = workers(undefined, { inRound: 2 });
    const error = await createVerifiedHandler({ workers: w.handler, domainChecks: [CHECK], place, rounds: 3 })(context()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).code).toBe(FailureCode.workerFailed);
    expect((error as TaskFailedError).output).toMatchObject({ rounds: 2, files_created: ['sum.txt'] });
    expect((error as TaskFailedError).output['checks']).toHaveLength(1);
  });

  it('refuses a task with checks before any worker runs where commands are refused', async () => {
    const w = workers(2);
    const refused = (): CheckPlace => ({ ...place(), sandbox: new RefusingSandbox('bwrap could not be started') });
    const error = await createVerifiedHandler({ workers: w.handler, domainChecks: [CHECK], place: refused, rounds: 3 })(context()).catch((e: unknown) => e);
    expect(w.tasks).toHaveLength(0);
    expect((error as TaskFailedError).code).toBe(FailureCode.verificationUnavailable);
    expect((error as TaskFailedError).message).toMatch(/install bubblewrap, or set DAN_SANDBOX=off/);
  });
});
