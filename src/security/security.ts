#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditAttempt } from './audit-report.js';
import { buildSecurityReport, formatSecurityReport, outcomesFromRunnerReport, securityExitCode } from './audit-report.js';

const USAGE = `npm run security [-- --quick] [-- --json] [-- --report <file>]

Replays every attempt of the security audit (tests/security/audit-attempts.json) by running the
tests tagged [audit #N], and prints each attempt beside what happened: held, NOT HELD or not tried.

  --quick          leave out the Docker tests (tests/docker): the form CI can run on every change
  --json           print the report as JSON
  --report <file>  build the table from a test runner JSON report already written
                   (vitest --reporter=json --outputFile=<file>) instead of running the tests
  -h, --help       this text

Exit status: 0 when every attempt was tried and held (with --quick: when none failed to hold),
1 otherwise, 2 on bad usage.`;

interface SecurityOptions {
  quick: boolean;
  json: boolean;
  report?: string;
  help: boolean;
}

function parseArgs(argv: string[]): SecurityOptions {
  const options: SecurityOptions = { quick: false, json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.quick = true;
    else if (arg === '--json') options.json = true;
    else if (arg === '-h' || arg === '--help') options.help = true;
    else if (arg === '--report') {
      const file = argv[++i];
      if (!file) throw new Error('--report needs a file: --report test-results.json');
      options.report = file;
    } else throw new Error(`unknown argument ${JSON.stringify(arg)}; see --help`);
  }
  return options;
}

/** The repository root: dist/src/security/security.js is three folders below it. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Test files that replay at least one attempt, so the run loads only those. */
function taggedFiles(quick: boolean): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.test.ts') && readFileSync(path, 'utf8').includes('[audit #')) files.push(path);
    }
  };
  walk(join(ROOT, 'tests'));
  return files.filter((f) => !quick || !f.startsWith(join(ROOT, 'tests', 'docker'))).sort();
}

/** Runs the tagged tests with the runner's JSON report into a temporary file; its progress goes to stderr. */
async function runTaggedTests(files: string[]): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'dan-security-'));
  const reportFile = join(dir, 'report.json');
  try {
    const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
    const args = [vitest, 'run', ...files, '-t', '\\[audit ', '--reporter=dot', '--reporter=json', `--outputFile.json=${reportFile}`];
    await new Promise<void>((done, fail) => {
      const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', process.stderr, process.stderr] });
      child.on('error', fail);
      child.on('exit', () => done());
    });
    return JSON.parse(readFileSync(reportFile, 'utf8'));
  } catch (error) {
    throw new Error(`the tests wrote no readable report (${(error as Error).message}); run them with npx vitest to see why`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  let options: SecurityOptions;
  try {
    options = parseArgs(argv);
  } catch (error) {
    process.stderr.write(`security: ${(error as Error).message}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const attempts = JSON.parse(readFileSync(join(ROOT, 'tests', 'security', 'audit-attempts.json'), 'utf8')) as AuditAttempt[];
  let runnerReport: unknown;
  if (options.report) {
    runnerReport = JSON.parse(readFileSync(resolve(options.report), 'utf8'));
  } else {
    const files = taggedFiles(options.quick);
    process.stderr.write(`security: replaying the audit's attempts from ${files.length} test files${options.quick ? ' (quick: without tests/docker)' : ''}\n`);
    runnerReport = await runTaggedTests(files);
  }
  const report = buildSecurityReport(attempts, outcomesFromRunnerReport(runnerReport));
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatSecurityReport(report, ROOT));
  return securityExitCode(report, !options.quick);
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`security: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
