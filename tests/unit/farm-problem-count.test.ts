import { describe, expect, it } from 'vitest';
import type { ProblemsRun } from '../../lib/farm/problems-command.js';
import { unknownCountReason } from '../../lib/farm/problems-command.js';

const problem = { file: 'src/a.ts', line: 1, message: 'error TS2322: nope' };
const run = (r: Partial<ProblemsRun>): ProblemsRun => ({ exitCode: 0, output: '', problems: [], missing: false, ...r });

describe('whether a problems command counted anything', () => {
  it('believes a clean exit with nothing to read (zero) and any run that printed problems', () => {
    expect(unknownCountReason(run({}))).toBeUndefined();
    expect(unknownCountReason(run({ exitCode: 2, problems: [problem] }))).toBeUndefined();
  });

  it('calls the count unknown, never zero, when the command did not check anything', () => {
    // `npx tsc` where typescript is not installed: exit 127 from the shell.
    expect(unknownCountReason(run({ exitCode: 127, missing: true, output: 'sh: 1: tsc: not found' }))).toContain('tsc: not found');
    // Killed by the timeout or a signal.
    expect(unknownCountReason(run({ exitCode: null }))).toContain('killed');
    // A crash (node's "Cannot find module") or output in a format the farm cannot read.
    expect(unknownCountReason(run({ exitCode: 1, output: "Error: Cannot find module '/r/node_modules/.bin/check'" }))).toContain('exited 1 without a problem');
  });
});
