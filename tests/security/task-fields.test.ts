import { describe, expect, it } from 'vitest';
import { parseTask } from '../../lib/protocol/task.js';

// The audit's raw tasks with fields of the wrong type (#33): each must fail naming the field and why,
// as the consumer's parse decides before anything runs.
const task = (extra: Record<string, unknown>) => JSON.stringify({ task_id: 'ty-1', type: 'echo', payload: { description: 'x' }, ...extra });
const CASES: [string, string, RegExp][] = [
  ['payload string', task({ payload: 'x' }), /^invalid task: payload .*received string/],
  ['payload array', task({ payload: ['x'] }), /^invalid task: payload .*received array/],
  ['description number', task({ payload: { description: 5 } }), /^invalid task: payload\.description .*received number/],
  ['requirements string', task({ payload: { description: 'x', requirements: 'r' } }), /^invalid task: payload\.requirements must be a list of strings/],
  ['context array', task({ payload: { description: 'x', context: [1] } }), /^invalid task: payload\.context .*received array/],
  ['metadata array', task({ metadata: [1] }), /^invalid task: metadata .*received array/],
  ['priority 5', task({ metadata: { priority: 5 } }), /^invalid task: metadata\.priority must be low, normal or high/],
  ['priority "urgent"', task({ metadata: { priority: 'urgent' } }), /^invalid task: metadata\.priority must be low, normal or high/],
  ['priority "HIGH"', task({ metadata: { priority: 'HIGH' } }), /^invalid task: metadata\.priority must be low, normal or high/],
  ['timeout "abc"', task({ metadata: { timeout_seconds: 'abc' } }), /^invalid task: metadata\.timeout_seconds must be a number/],
  ['timeout -1', task({ metadata: { timeout_seconds: -1 } }), /^invalid task: metadata\.timeout_seconds must be a positive number of seconds/],
  ['timeout 0', task({ metadata: { timeout_seconds: 0 } }), /^invalid task: metadata\.timeout_seconds must be a positive number of seconds/],
  ['max_attempts 0', task({ metadata: { max_attempts: 0 } }), /^invalid task: metadata\.max_attempts must be at least 1/],
  ['max_attempts -5', task({ metadata: { max_attempts: -5 } }), /^invalid task: metadata\.max_attempts must be at least 1/],
  ['max_attempts "3"', task({ metadata: { max_attempts: '3' } }), /^invalid task: metadata\.max_attempts must be a number/],
  ['deadline "yesterday"', task({ metadata: { deadline: 'yesterday' } }), /^invalid task: metadata\.deadline must be an ISO-8601 time/],
  ['type 7', task({ type: 7 }), /^invalid task: type .*received number/],
  ['parent_id 5', task({ metadata: { parent_id: 5 } }), /^invalid task: metadata\.parent_id .*received number/],
  ['client_id object', task({ metadata: { client_id: { a: 1 } } }), /^invalid task: metadata\.client_id .*received object/],
];

describe('raw tasks with fields of the wrong type [audit #33]', () => {
  it.each(CASES)('fails %s under its own id, naming the field and the reason', (_name, raw, reason) => {
    const outcome = parseTask(raw);
    expect(outcome).toMatchObject({ kind: 'invalid', taskId: 'ty-1' });
    expect(outcome.kind === 'invalid' ? outcome.reason : '').toMatch(reason);
  });
});
