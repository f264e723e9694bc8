import { describe, expect, it } from 'vitest';
import { isValidTaskId, TASK_ID_RULE } from '../../lib/protocol/task.js';
import { childTaskId } from '../../src/main/delegation.js';

describe('childTaskId', () => {
  it('is the parent id and the domain when that fits the id rule', () => {
    expect(childTaskId('4f2c-77', 'backend')).toBe('4f2c-77-backend');
  });

  it('stays within the id rule for a parent id at the length limit, the same every time and per domain', () => {
    const parent = `p${'x'.repeat(TASK_ID_RULE.maxLength - 1)}`;
    const backend = childTaskId(parent, 'backend');
    expect(isValidTaskId(backend)).toBe(true);
    expect(backend.length).toBeLessThanOrEqual(TASK_ID_RULE.maxLength);
    expect(backend.endsWith('-backend')).toBe(true);
    expect(childTaskId(parent, 'backend')).toBe(backend);
    expect(childTaskId(parent, 'frontend')).not.toBe(backend);
    // Two long parents that share their first characters still get different children.
    expect(childTaskId(`${parent.slice(0, -1)}y`, 'backend')).not.toBe(backend);
  });
});
