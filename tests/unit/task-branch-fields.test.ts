import { describe, expect, it } from 'vitest';
import { readBranchFields } from '../../lib/workspace/task-branch.js';

describe('readBranchFields', () => {
  const full = { summary: 's', repository: '/repo', branch: 'dan/t1', base_commit: 'a'.repeat(40), commit: 'b'.repeat(40), delivery: 'merged', merged_into: 'main' };

  it("reads the branch a task's result names, for dan diff", () => {
    expect(readBranchFields(full)).toEqual({ repository: '/repo', branch: 'dan/t1', base_commit: 'a'.repeat(40), commit: 'b'.repeat(40), delivery: 'merged' });
  });

  it('finds no branch in the result of a task that worked in the folder itself, or has not ended', () => {
    expect(readBranchFields({ summary: 's', files_created: ['a.txt'] })).toBeUndefined();
    expect(readBranchFields(undefined)).toBeUndefined();
    expect(readBranchFields({ ...full, commit: 42 })).toBeUndefined();
  });
});
