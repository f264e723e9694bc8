import { describe, expect, it } from 'vitest';
import { DEFAULT_TASK_LIMITS, parseTask } from '../../lib/protocol/task.js';

// The audit's numeric edge cases (#34-#37) and sizes (#27): each refused, naming the field and the fix.
const task = (metadata: string, id = '"t"') => `{"task_id": ${id}, "payload": {"description": "x"}, "metadata": {${metadata}}}`;

describe('parseTask and numbers', () => {
  it.each([
    ['"timeout_seconds": 3000000', 'metadata.timeout_seconds must be at most 604800 seconds (7 days)'],
    ['"timeout_seconds": 1e308', 'metadata.timeout_seconds must be at most 604800 seconds (7 days)'],
    ['"timeout_seconds": -1', 'metadata.timeout_seconds must be a positive number of seconds'],
    ['"timeout_seconds": "abc"', 'metadata.timeout_seconds must be a number'],
    ['"max_attempts": 1000000000', 'metadata.max_attempts must be at most 20'],
    ['"max_attempts": 2.5', 'metadata.max_attempts must be a whole number'],
    ['"max_attempts": 0', 'metadata.max_attempts must be at least 1'],
    ['"priority": 5', 'metadata.priority must be low, normal or high'],
  ])('refuses %s', (metadata, reason) => {
    expect(parseTask(task(metadata))).toEqual({ kind: 'invalid', taskId: 't', reason: `invalid task: ${reason}` });
  });

  it('keeps the largest values allowed', () => {
    expect(parseTask(task('"timeout_seconds": 604800, "max_attempts": 20'))).toMatchObject({ kind: 'ok', task: { timeoutSeconds: 604800 } });
  });

  it.each(['12345', '1.5', 'true', '{"a": 1}'])('refuses task_id %s: ids are strings', (id) => {
    const outcome = parseTask(task('', id), 'assigned-1');
    expect(outcome.kind).toBe('malformed');
    if (outcome.kind === 'malformed') expect(outcome.reason).toMatch(/^task_id must be a string, got (number|boolean|object): a task id is/);
  });
});

describe('parseTask and sizes', () => {
  it('fails a description over DAN_MAX_DESCRIPTION_BYTES, counting UTF-8 bytes', () => {
    const description = 'é'.repeat(32 * 1024 + 1);
    expect(parseTask(JSON.stringify({ task_id: 'd1', payload: { description } }))).toEqual({
      kind: 'invalid', taskId: 'd1',
      reason: 'invalid task: payload.description is 65538 bytes, over the 65536-byte limit (DAN_MAX_DESCRIPTION_BYTES); send less, or raise DAN_MAX_DESCRIPTION_BYTES',
    });
  });

  it('fails a context over DAN_MAX_CONTEXT_BYTES', () => {
    const raw = JSON.stringify({ task_id: 'c1', payload: { description: 'x', context: { blob: 'b'.repeat(300 * 1024) } } });
    const outcome = parseTask(raw);
    expect(outcome).toMatchObject({ kind: 'invalid', taskId: 'c1' });
    if (outcome.kind === 'invalid') expect(outcome.reason).toMatch(/^invalid task: payload.context is \d+ bytes, over the 262144-byte limit \(DAN_MAX_CONTEXT_BYTES\)/);
  });

  it('fails a 5 MB task before parsing it, under the id it names', () => {
    const raw = JSON.stringify({ task_id: 'huge-model', payload: { description: `api endpoint ${'D'.repeat(5_000_000)}` } });
    expect(parseTask(raw)).toEqual({
      kind: 'invalid', taskId: 'huge-model',
      reason: `invalid task: the task is ${raw.length} bytes, over the 1048576-byte limit (DAN_MAX_TASK_BYTES); send less, or raise DAN_MAX_TASK_BYTES`,
    });
  });

  it('takes anything with the limits at 0', () => {
    const raw = JSON.stringify({ task_id: 'big', payload: { description: 'D'.repeat(2 * 1024 * 1024) } });
    expect(parseTask(raw, undefined, { maxTaskBytes: 0, maxDescriptionBytes: 0, maxContextBytes: 0 }).kind).toBe('ok');
    expect(parseTask(raw, undefined, DEFAULT_TASK_LIMITS).kind).toBe('invalid');
  });
});
