/**
 * The security suite's table: every attempt of the audit (tests/security/audit-attempts.json) beside
 * what the tests that replay it found in this run. A test replays attempt N when its name (or an
 * enclosing describe's) holds the tag `[audit #N]` (several: `[audit #22 #23]`), so the replay is an
 * ordinary test of the suite it belongs in, run by `npm test` like any other, and this table is read
 * from the runner's JSON report rather than from a second copy of the checks.
 */

export type AuditSeverity = 'ok' | 'low' | 'medium' | 'high' | 'critical';

/** One row of the audit's table, as the audit wrote it. */
export interface AuditAttempt {
  number: number;
  section: string;
  attempt: string;
  auditResult: string;
  /** `ok` when the attempt already held at the audit. */
  auditSeverity: AuditSeverity;
}

/** One test's ending, as the runner's JSON report gives it. */
export interface TestOutcome {
  file: string;
  fullName: string;
  status: 'passed' | 'failed' | 'skipped';
  /** The first line of the failure, when it failed. */
  failure?: string;
}

/**
 * held: every replaying test passed; not_held: one failed; partly_tried: some passed and the others were
 * skipped (a part of the attempt is not replayed, so it cannot be called held); not_tried: no test ran it.
 */
export type AttemptStatus = 'held' | 'not_held' | 'partly_tried' | 'not_tried';

export interface AttemptResult {
  number: number;
  section: string;
  attempt: string;
  auditSeverity: AuditSeverity;
  status: AttemptStatus;
  tests: { file: string; name: string; status: TestOutcome['status']; failure?: string }[];
}

export interface SecurityReport {
  attempts: number;
  tried: number;
  held: number;
  notHeld: number;
  partlyTried: number;
  notTried: number;
  /** Tags that name no attempt of the audit: a typo in a test name, reported rather than ignored. */
  unknownTags: { file: string; name: string; number: number }[];
  results: AttemptResult[];
}

const TAG = /\[audit((?:\s+#\d+)+)\]/g;

/** The attempt numbers a test's full name tags, in order, without repeats. */
export function auditTags(fullName: string): number[] {
  const numbers: number[] = [];
  for (const match of fullName.matchAll(TAG)) {
    for (const part of (match[1] ?? '').matchAll(/#(\d+)/g)) {
      const n = Number(part[1]);
      if (!numbers.includes(n)) numbers.push(n);
    }
  }
  return numbers;
}

export function buildSecurityReport(attempts: readonly AuditAttempt[], outcomes: readonly TestOutcome[]): SecurityReport {
  const byNumber = new Map<number, AttemptResult>();
  for (const a of attempts) {
    byNumber.set(a.number, { number: a.number, section: a.section, attempt: a.attempt, auditSeverity: a.auditSeverity, status: 'not_tried', tests: [] });
  }
  const unknownTags: SecurityReport['unknownTags'] = [];
  for (const outcome of outcomes) {
    for (const n of auditTags(outcome.fullName)) {
      const result = byNumber.get(n);
      if (!result) {
        unknownTags.push({ file: outcome.file, name: outcome.fullName, number: n });
        continue;
      }
      result.tests.push({ file: outcome.file, name: outcome.fullName, status: outcome.status, ...(outcome.failure ? { failure: outcome.failure } : {}) });
    }
  }
  const results = [...byNumber.values()].sort((a, b) => a.number - b.number);
  for (const r of results) r.status = statusOf(r.tests);
  const count = (s: AttemptStatus) => results.filter((r) => r.status === s).length;
  return {
    attempts: results.length,
    tried: results.length - count('not_tried'),
    held: count('held'),
    notHeld: count('not_held'),
    partlyTried: count('partly_tried'),
    notTried: count('not_tried'),
    unknownTags,
    results,
  };
}

function statusOf(tests: AttemptResult['tests']): AttemptStatus {
  if (tests.some((t) => t.status === 'failed')) return 'not_held';
  const passed = tests.some((t) => t.status === 'passed');
  if (passed && tests.some((t) => t.status === 'skipped')) return 'partly_tried';
  return passed ? 'held' : 'not_tried';
}

/** The runner's JSON report (jest-compatible, as vitest writes it) reduced to outcomes. */
export function outcomesFromRunnerReport(report: unknown): TestOutcome[] {
  const files = (report as { testResults?: unknown }).testResults;
  if (!Array.isArray(files)) throw new Error('the test report has no testResults list: was it written with --reporter=json?');
  const outcomes: TestOutcome[] = [];
  for (const file of files as { name?: string; assertionResults?: unknown }[]) {
    const tests = Array.isArray(file.assertionResults) ? file.assertionResults as { fullName?: string; title?: string; status?: string; failureMessages?: string[] }[] : [];
    for (const t of tests) {
      const status = t.status === 'passed' ? 'passed' : t.status === 'failed' ? 'failed' : 'skipped';
      const failure = status === 'failed' ? String(t.failureMessages?.[0] ?? '').split('\n')[0] : undefined;
      outcomes.push({ file: String(file.name ?? ''), fullName: String(t.fullName ?? t.title ?? ''), status, ...(failure ? { failure } : {}) });
    }
  }
  return outcomes;
}

const STATUS_WORDS: Record<AttemptStatus, string> = { held: 'held', not_held: 'NOT HELD', partly_tried: 'partly', not_tried: 'not tried' };

/** The table a person reads: one line per attempt, then the totals and what needs doing. */
export function formatSecurityReport(report: SecurityReport, root: string): string {
  const lines: string[] = [];
  let section = '';
  lines.push('  #  audit     now        attempt');
  for (const r of report.results) {
    if (r.section !== section) {
      section = r.section;
      lines.push(`-- ${section}`);
    }
    const title = r.attempt.length > 88 ? `${r.attempt.slice(0, 87)}…` : r.attempt;
    lines.push(`${String(r.number).padStart(3)}  ${r.auditSeverity.padEnd(8)}  ${STATUS_WORDS[r.status].padEnd(9)}  ${title}`);
    if (r.status === 'not_held') {
      for (const t of r.tests.filter((x) => x.status === 'failed')) lines.push(`       failed: ${relative(t.file, root)} > ${t.name}${t.failure ? `: ${t.failure}` : ''}`);
    }
    if (r.status === 'partly_tried') {
      for (const t of r.tests.filter((x) => x.status === 'skipped')) lines.push(`       skipped: ${relative(t.file, root)} > ${t.name}`);
    }
  }
  for (const u of report.unknownTags) lines.push(`unknown tag [audit #${u.number}] in ${relative(u.file, root)} > ${u.name}: the audit has no such attempt`);
  lines.push('');
  lines.push(`${report.attempts} attempts: ${report.tried} tried, ${report.held} held, ${report.notHeld} not held, ` +
    `${report.partlyTried} partly tried, ${report.notTried} not tried`);
  return `${lines.join('\n')}\n`;
}

function relative(file: string, root: string): string {
  return file.startsWith(`${root}/`) ? file.slice(root.length + 1) : file;
}

/**
 * Exit 0 when nothing failed to hold and every tag names an attempt; a full run also needs every
 * attempt tried, a quick one (which leaves the Docker tests out) does not.
 */
export function securityExitCode(report: SecurityReport, requireEveryAttempt: boolean): number {
  if (report.notHeld > 0 || report.unknownTags.length > 0) return 1;
  return requireEveryAttempt && report.notTried + report.partlyTried > 0 ? 1 : 0;
}
