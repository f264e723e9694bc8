import { describe, expect, it } from 'vitest';
import type { TaskResult } from '../../lib/protocol/result.js';
import { readResultHash } from '../../lib/protocol/result.js';
import { parseTimedCall, timedCallMessage } from '../../lib/protocol/timed-call.js';
import { timelineSpans } from '../../src/operations/task-timeline.js';

const result = (id: string, hash: Record<string, string>): TaskResult => readResultHash(id, { task_id: id, ...hash }) as TaskResult;
const line = (iso: string, agent: string, message: string) => `[${iso}] ${agent}: ${message}`;

describe('timed call lines', () => {
  it('reads back what it writes, for model calls and tool calls', () => {
    expect(parseTimedCall(timedCallMessage('backend-0a-coder-1', { kind: 'model_call', turn: 3, durationMs: 1234.6 })))
      .toEqual({ kind: 'model_call', workerId: 'backend-0a-coder-1', turn: 3, durationMs: 1235 });
    expect(parseTimedCall(timedCallMessage('w-1', { kind: 'tool_call', tool: 'Bash', ok: false, durationMs: 52 })))
      .toEqual({ kind: 'tool_call', workerId: 'w-1', tool: 'Bash', ok: false, durationMs: 52 });
  });

  it('writes a failed model call with its error on one bounded line, and reads it back', () => {
    const message = timedCallMessage('main-0a', { kind: 'model_call', turn: 1, durationMs: 30_000, error: `529 overloaded\n${'x'.repeat(500)}` });
    expect(message).not.toContain('\n');
    const read = parseTimedCall(message);
    expect(read).toMatchObject({ kind: 'model_call', workerId: 'main-0a', turn: 1, durationMs: 30_000 });
    expect(read?.kind === 'model_call' ? read.error : undefined).toMatch(/^529 overloaded x+\.\.\.$/);
    expect((read?.kind === 'model_call' ? read.error : '')?.length).toBe(200);
  });

  it("takes no progress line for one: a tool's summary always follows the worker's ': '", () => {
    // What a model could make a progress line say: `w-1: ` then the tool name and its input.
    expect(parseTimedCall('w-1: model call 1 took 5 ms')).toBeUndefined();
    expect(parseTimedCall('w-1: tool Bash took 5 ms (ok)')).toBeUndefined();
    expect(parseTimedCall('w-1 model call 1 took 5 ms; more')).toBeUndefined();
  });
});

describe('timelineSpans', () => {
  it("lays out a routed job: its attempt, its sub-task's attempts (one retried), calls, a check and a review", () => {
    const job = result('job1', { status: 'completed', domain: 'main', started_at: '2026-12-07T10:00:00.000Z', completed_at: '2026-12-07T10:00:30.000Z', attempts: '1' });
    const sub = result('job1-backend', {
      status: 'completed', domain: 'backend', started_at: '2026-12-07T10:00:12.000Z', completed_at: '2026-12-07T10:00:29.000Z', attempts: '2', parent_id: 'job1',
    });
    const spans = timelineSpans([
      { result: job, logs: [line('2026-12-07T10:00:00.000Z', 'main-0000000a', 'claimed task (attempt 1 of 3, priority normal): add sum')] },
      {
        result: sub, parent: 'job1', logs: [
          line('2026-12-07T10:00:01.000Z', 'backend-0000000b', 'claimed task (attempt 1 of 3, priority normal): add sum'),
          '[2026-12-07T10:00:10.000Z] attempt 1 ended: the model API answered 529 (owner backend-0000000b)',
          line('2026-12-07T10:00:12.000Z', 'backend-0000000c', 'claimed task (attempt 2 of 3, priority normal): add sum'),
          line('2026-12-07T10:00:15.000Z', 'backend-0000000c', timedCallMessage('backend-0000000c-coder-1', { kind: 'model_call', turn: 1, durationMs: 2000 })),
          line('2026-12-07T10:00:15.000Z', 'backend-0000000c', 'backend-0000000c-coder-1: Write sum.js'),
          line('2026-12-07T10:00:15.050Z', 'backend-0000000c', timedCallMessage('backend-0000000c-coder-1', { kind: 'tool_call', tool: 'Write', ok: true, durationMs: 50 })),
          line('2026-12-07T10:00:20.000Z', 'backend-0000000c', 'check failed (exit 1, 1500 ms): npm test'),
          line('2026-12-07T10:00:28.000Z', 'backend-0000000c', 'review of round 1 (3000 ms): approve'),
          // A progress line a model could word like a timed one is not taken for one.
          line('2026-12-07T10:00:28.500Z', 'backend-0000000c', 'backend-0000000c-coder-1: model call 9 took 1 ms'),
        ],
      },
    ]);
    const view = spans.map((s) => [s.kind, s.name, s.start.slice(11, 23), s.end?.slice(11, 23) ?? null, s.duration_ms, s.status, s.parent_id]);
    expect(view).toEqual([
      ['attempt', 'attempt 1', '10:00:00.000', '10:00:30.000', 30_000, 'completed', null],
      ['sub_task', 'backend', '10:00:01.000', '10:00:29.000', 28_000, 'completed', 'job1:attempt:1'],
      ['attempt', 'attempt 1', '10:00:01.000', '10:00:10.000', 9_000, 'failed', 'sub_task:job1-backend'],
      ['attempt', 'attempt 2', '10:00:12.000', '10:00:29.000', 17_000, 'completed', 'sub_task:job1-backend'],
      ['model_call', 'model call 1', '10:00:13.000', '10:00:15.000', 2_000, 'ok', 'job1-backend:attempt:2'],
      ['tool_call', 'Write', '10:00:15.000', '10:00:15.050', 50, 'ok', 'job1-backend:attempt:2'],
      ['check', 'npm test', '10:00:18.500', '10:00:20.000', 1_500, 'failed', 'job1-backend:attempt:2'],
      ['review', 'review of round 1', '10:00:25.000', '10:00:28.000', 3_000, 'approve', 'job1-backend:attempt:2'],
    ]);
    expect(spans.find((s) => s.kind === 'model_call')?.agent_id).toBe('backend-0000000c-coder-1');
    expect(spans.find((s) => s.kind === 'attempt' && s.task_id === 'job1-backend')?.agent_id).toBe('backend-0000000b');
  });

  it('shows a model call that failed with its duration and error, and one that answered with none', () => {
    const job = result('e1', { status: 'failed', started_at: '2026-12-07T10:00:00.000Z', completed_at: '2026-12-07T10:00:40.000Z', attempts: '1' });
    const spans = timelineSpans([{
      result: job, logs: [
        line('2026-12-07T10:00:00.000Z', 'backend-0000000b', 'claimed task (attempt 1 of 1, priority normal): x'),
        line('2026-12-07T10:00:05.000Z', 'backend-0000000b', timedCallMessage('backend-0000000b-coder-1', { kind: 'model_call', turn: 1, durationMs: 4000 })),
        line('2026-12-07T10:00:35.000Z', 'backend-0000000b', timedCallMessage('backend-0000000b-coder-1', { kind: 'model_call', turn: 2, durationMs: 30_000, error: 'request timed out' })),
      ],
    }]);
    expect(spans.filter((s) => s.kind === 'model_call').map((s) => [s.name, s.duration_ms, s.status, s.error])).toEqual([
      ['model call 1', 4000, 'ok', null],
      ['model call 2', 30_000, 'error', 'request timed out'],
    ]);
  });

  it('leaves unknown what no record says: a running attempt has no end, an attempt whose end line is gone neither', () => {
    const running = result('r1', { status: 'in_progress', started_at: '2026-12-07T10:00:05.000Z', attempts: '2' });
    const spans = timelineSpans([{
      result: running, logs: [
        line('2026-12-07T10:00:00.000Z', 'backend-0000000b', 'claimed task (attempt 1 of 3, priority normal): x'),
        line('2026-12-07T10:00:05.000Z', 'backend-0000000c', 'claimed task (attempt 2 of 3, priority normal): x'),
      ],
    }]);
    expect(spans.map((s) => [s.name, s.end, s.duration_ms, s.status])).toEqual([
      ['attempt 1', null, null, null],
      ['attempt 2', null, null, 'in_progress'],
    ]);
  });

  it("takes a failed task's attempt history over its log, and its result's start when no claim line is left", () => {
    const failed = result('f1', {
      status: 'failed', started_at: '2026-12-07T10:01:00.000Z', completed_at: '2026-12-07T10:01:09.000Z', attempts: '2',
      output: JSON.stringify({ attempt_history: [
        { attempt: 1, agent: 'backend-0000000b', started_at: '2026-12-07T10:00:00.000Z', ended_at: '2026-12-07T10:00:07.000Z', reason: 'crashed' },
        { attempt: 2, agent: 'backend-0000000c', started_at: '2026-12-07T10:01:00.000Z', ended_at: '2026-12-07T10:01:09.000Z', reason: 'crashed' },
      ] }),
    });
    expect(timelineSpans([{ result: failed, logs: [] }]).map((s) => [s.name, s.agent_id, s.duration_ms, s.status])).toEqual([
      ['attempt 1', 'backend-0000000b', 7_000, 'failed'],
      ['attempt 2', 'backend-0000000c', 9_000, 'failed'],
    ]);
    const quiet = result('q1', { status: 'completed', started_at: '2026-12-07T10:00:00.000Z', completed_at: '2026-12-07T10:00:02.000Z', agent_id: 'echo-1' });
    expect(timelineSpans([{ result: quiet, logs: [] }]).map((s) => [s.name, s.agent_id, s.duration_ms])).toEqual([['attempt 1', 'echo-1', 2_000]]);
  });

  it('shows a sub-task that never started not at all, and a task never claimed with no spans', () => {
    const job = result('j2', { status: 'pending' });
    const sub = result('j2-backend', { status: 'pending', parent_id: 'j2' });
    expect(timelineSpans([{ result: job, logs: [] }, { result: sub, parent: 'j2', logs: [] }])).toEqual([]);
  });
});
