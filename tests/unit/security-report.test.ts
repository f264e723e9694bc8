import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AuditAttempt, TestOutcome } from '../../src/security/audit-report.js';
import { auditTags, buildSecurityReport, formatSecurityReport, outcomesFromRunnerReport, securityExitCode } from '../../src/security/audit-report.js';

const attempts: AuditAttempt[] = [
  { number: 1, section: 'Jail', attempt: 'Read ../etc/passwd', auditResult: 'refused', auditSeverity: 'ok' },
  { number: 2, section: 'Jail', attempt: 'hard link', auditResult: 'leaked', auditSeverity: 'low' },
  { number: 3, section: 'Redis', attempt: 'colliding id', auditResult: 'lost', auditSeverity: 'high' },
  { number: 4, section: 'Redis', attempt: 'forged publish', auditResult: 'integrity', auditSeverity: 'medium' },
];

const outcome = (fullName: string, status: TestOutcome['status']): TestOutcome => ({ file: '/repo/tests/x.test.ts', fullName, status });

describe('security report', () => {
  it('reads one or several attempt numbers from a tag, in a test or describe name', () => {
    expect(auditTags('jail refuses .. [audit #1]')).toEqual([1]);
    expect(auditTags('[audit #22 #23] claim > a colliding id is dead-lettered')).toEqual([22, 23]);
    expect(auditTags('[audit #4] outer > inner [audit #4 #12]')).toEqual([4, 12]);
    expect(auditTags('audit #4 without brackets')).toEqual([]);
  });

  it('an attempt holds when every test replaying it passed, and not when one failed or none ran', () => {
    const report = buildSecurityReport(attempts, [
      outcome('a [audit #1]', 'passed'),
      outcome('b [audit #1 #2]', 'passed'),
      outcome('c [audit #2]', 'failed'),
      outcome('d [audit #3]', 'skipped'),
      outcome('e [audit #4]', 'passed'),
      outcome('f [audit #4]', 'skipped'),
    ]);
    expect(report.results.map((r) => [r.number, r.status])).toEqual([[1, 'held'], [2, 'not_held'], [3, 'not_tried'], [4, 'partly_tried']]);
    expect({ tried: report.tried, held: report.held, notHeld: report.notHeld, partlyTried: report.partlyTried, notTried: report.notTried })
      .toEqual({ tried: 3, held: 1, notHeld: 1, partlyTried: 1, notTried: 1 });
    expect(formatSecurityReport(report, '/repo')).toContain('skipped: tests/x.test.ts > f [audit #4]');
    expect(securityExitCode(report, false)).toBe(1);
  });

  it('a tag naming no attempt is reported, and fails the run', () => {
    const report = buildSecurityReport(attempts, [outcome('x [audit #1]', 'passed'), outcome('y [audit #2 #4]', 'passed'), outcome('z [audit #3 #99]', 'passed')]);
    expect(report.unknownTags).toEqual([{ file: '/repo/tests/x.test.ts', name: 'z [audit #3 #99]', number: 99 }]);
    expect(securityExitCode(report, true)).toBe(1);
    expect(formatSecurityReport(report, '/repo')).toContain('unknown tag [audit #99] in tests/x.test.ts');
  });

  it('a quick run passes with attempts not tried, a full run does not', () => {
    const report = buildSecurityReport(attempts, [outcome('x [audit #1 #2]', 'passed')]);
    expect(securityExitCode(report, false)).toBe(0);
    expect(securityExitCode(report, true)).toBe(1);
    expect(formatSecurityReport(report, '/repo')).toContain('4 attempts: 2 tried, 2 held, 0 not held, 0 partly tried, 2 not tried');
  });

  it('reads the runner JSON report, with the failure line of a failed test', () => {
    const outcomes = outcomesFromRunnerReport({
      testResults: [{ name: '/repo/tests/a.test.ts', assertionResults: [
        { fullName: 'jail [audit #1]', status: 'passed' },
        { fullName: 'link [audit #2]', status: 'failed', failureMessages: ['AssertionError: expected 1 to be 0\n    at x'] },
        { fullName: 'docker [audit #3]', status: 'pending' },
      ] }],
    });
    expect(outcomes).toEqual([
      { file: '/repo/tests/a.test.ts', fullName: 'jail [audit #1]', status: 'passed' },
      { file: '/repo/tests/a.test.ts', fullName: 'link [audit #2]', status: 'failed', failure: 'AssertionError: expected 1 to be 0' },
      { file: '/repo/tests/a.test.ts', fullName: 'docker [audit #3]', status: 'skipped' },
    ]);
    expect(() => outcomesFromRunnerReport({})).toThrow(/--reporter=json/);
  });

  it('the catalogue holds the audit\'s 84 attempts, numbered 1 to 84, 41 of them held at the audit', () => {
    const catalogue = JSON.parse(readFileSync(new URL('../security/audit-attempts.json', import.meta.url), 'utf8')) as AuditAttempt[];
    expect(catalogue.map((a) => a.number)).toEqual(Array.from({ length: 84 }, (_, i) => i + 1));
    expect(catalogue.filter((a) => a.auditSeverity === 'ok')).toHaveLength(41);
  });
});
