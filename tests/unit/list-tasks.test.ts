import { describe, expect, it } from 'vitest';
import { parseStatus, parseStatuses, parseTime } from '../../src/operations/list-tasks.js';

describe('the filters of dan tasks and GET /jobs', () => {
  it("take a status by the seed's name or dan's, in any case", () => {
    expect(['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED'].map(parseStatus)).toEqual(['pending', 'in_progress', 'completed', 'failed']);
    expect(['pending', 'In_Progress', 'completed', ' failed '].map(parseStatus)).toEqual(['pending', 'in_progress', 'completed', 'failed']);
    expect(parseStatuses('FAILED,failed,QUEUED')).toEqual(['failed', 'pending']);
  });

  it('refuse an unknown or empty status, naming the ones there are', () => {
    expect(() => parseStatus('done')).toThrow(/QUEUED, RUNNING, SUCCEEDED, FAILED/);
    expect(() => parseStatuses(',')).toThrow(expect.objectContaining({ code: 'invalid_input' }));
  });

  it('take ISO times and dates, and refuse the rest with an example', () => {
    expect(parseTime('2026-12-07T10:00:00Z', 'since')).toBe(Date.UTC(2026, 11, 7, 10));
    expect(parseTime('2026-12-07', 'since')).toBe(Date.UTC(2026, 11, 7));
    for (const text of ['yesterday', '12', '', '2026-13-45']) expect(() => parseTime(text, '--since'), text).toThrow(/--since takes an ISO time/);
  });
});
