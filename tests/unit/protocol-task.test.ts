import { describe, expect, it } from 'vitest';
import { buildTaskJson, parseTask, recoverTaskId } from '../../lib/protocol/task.js';

/** A task as a seed 003 client writes it: pretty-printed, every field present. */
const SEED_TASK = `{
  "task_id": "6f1c2d3e-0000-4000-8000-000000000001",
  "type": "task_assignment",
  "source": "cli",
  "destination": "backend",
  "timestamp": "2025-12-28T03:19:10.000Z",
  "payload": {
    "description": "Create a health endpoint",
    "requirements": ["GET /health"],
    "context": {}
  },
  "metadata": {
    "priority": "high",
    "timeout_seconds": 120
  }
}`;

describe('parseTask', () => {
  it('reads a pretty-printed seed 003 task with every field', () => {
    const outcome = parseTask(SEED_TASK);
    expect(outcome.kind).toBe('ok');
    if (outcome.kind !== 'ok') return;
    expect(outcome.task).toMatchObject({
      taskId: '6f1c2d3e-0000-4000-8000-000000000001', type: 'task_assignment', destination: 'backend',
      description: 'Create a health endpoint', requirements: ['GET /health'], context: {}, priority: 'high', timeoutSeconds: 120,
    });
  });

  it('fills in defaults when fields are missing, and ignores unknown fields', () => {
    const outcome = parseTask('{"payload": {"description": "do it"}, "colour": "blue", "metadata": {"owner": "me"}}', 'assigned-1');
    expect(outcome).toMatchObject({ kind: 'ok', task: { taskId: 'assigned-1', type: 'task_assignment', priority: 'normal', timeoutSeconds: 300, requirements: [], context: {} } });
  });

  it('fails a task without a description, naming the field', () => {
    expect(parseTask('{"task_id": "t1", "payload": {}}')).toEqual({ kind: 'invalid', taskId: 't1', reason: 'invalid task: payload.description is required (a non-empty string)' });
    expect(parseTask('{"task_id": "t2"}').kind).toBe('invalid');
  });

  it('accepts an echo task without a description', () => {
    expect(parseTask('{"task_id": "e1", "type": "echo", "payload": {"message": "hi"}}')).toMatchObject({ kind: 'ok', task: { payload: { message: 'hi' } } });
  });

  it.each([
    ['{"task_id": "t", "payload": {"description": "x"}, "metadata": {"timeout_seconds": -5}}', 'metadata.timeout_seconds must be a positive number of seconds'],
    ['{"task_id": "t", "payload": {"description": "x", "context": "src"}}', 'payload.context'],
    ['{"task_id": "t", "payload": {"description": "x"}, "metadata": {"priority": "urgent"}}', 'metadata.priority must be low, normal or high'],
    ['{"task_id": "t", "payload": {"description": "x", "requirements": "one"}}', 'payload.requirements must be a list of strings'],
  ])('rejects a bad field with its name and reason: %s', (raw, reason) => {
    const outcome = parseTask(raw);
    expect(outcome.kind).toBe('invalid');
    if (outcome.kind === 'invalid') expect(outcome.reason).toContain(reason);
  });

  it.each([
    ['not json', /not JSON/],
    ['[1, 2]', /must be an object, got an array/],
    ['"text"', /must be an object, got string/],
    ['null', /must be an object, got null/],
    ['', /not JSON/],
  ])('calls %j malformed (dead-letter material)', (raw, reason) => {
    const outcome = parseTask(raw);
    expect(outcome.kind).toBe('malformed');
    if (outcome.kind === 'malformed') expect(outcome.reason).toMatch(reason);
  });

  it('recovers a task id from broken JSON so its result can be marked failed', () => {
    expect(recoverTaskId('{"task_id": "abc-123", "payload": ')).toBe('abc-123');
    expect(parseTask('{"task_id": "abc-123", "payload": ')).toMatchObject({ kind: 'malformed', taskId: 'abc-123' });
    expect(recoverTaskId('garbage')).toBeUndefined();
  });

  it('round-trips what buildTaskJson makes, quotes and all', () => {
    const raw = buildTaskJson({ domain: 'frontend', description: 'Say "hi" & it\'s {fine}', priority: 'low', timeoutSeconds: 60, context: { path: 'src' } }, 'q1', '2026-01-01T00:00:00.000Z');
    expect(parseTask(raw)).toMatchObject({ kind: 'ok', task: { description: 'Say "hi" & it\'s {fine}', priority: 'low', timeoutSeconds: 60, context: { path: 'src' }, destination: 'frontend' } });
  });

  it("writes a caller's extra payload and metadata first with our fields over theirs, and keeps an own __proto__ key as a key", () => {
    const extraPayload = JSON.parse('{"__proto__": {"a": 1}, "description": "theirs", "n": 1}') as Record<string, unknown>;
    const raw = buildTaskJson({ domain: 'd', description: 'ours', extraPayload, extraMetadata: { client_id: 'c', priority: 'high' }, priority: 'low', parentId: 'p' }, 't', 'T');
    expect(raw).toBe('{"task_id":"t","type":"task_assignment","source":"cli","destination":"d","timestamp":"T",'
      + '"payload":{"__proto__":{"a":1},"description":"ours","n":1,"requirements":[],"context":{}},'
      + '"metadata":{"client_id":"c","priority":"low","timeout_seconds":300,"parent_id":"p"}}');
  });
});
