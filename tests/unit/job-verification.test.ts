import { describe, expect, it } from 'vitest';
import { verification } from '../../src/api/job-view-schemas.js';

describe("a job's checks and reviews, read from its output", () => {
  const check = { command: 'npm test', exit_code: 0, duration_ms: 12, ok: true, output_tail: 'ok', round: 1 };
  const review = { verdict: 'approve', summary: 'fine', comments: [], round: 1, reviewer: 'reviewer' };

  it('answers what a verified task recorded', () => {
    expect(verification({ checks: [check], review, reviews: [review] })).toEqual({ checks: [check], review, reviews: [review] });
    expect(verification({ checks: [] })).toEqual({ checks: [], review: null, reviews: [] });
  });

  it('reads anything else (no output, or fields an agent wrote wrong) as absent, never as an error', () => {
    expect(verification(undefined)).toEqual({ checks: null, review: null, reviews: [] });
    expect(verification({ checks: 'all passed', review: { verdict: 'maybe' }, reviews: [1] })).toEqual({ checks: null, review: null, reviews: [] });
    expect(verification({ checks: [{ ...check, exit_code: '0' }] })).toMatchObject({ checks: null });
  });
});
