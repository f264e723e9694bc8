import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { AgentDefinitionError } from '../../lib/agents/front-matter.js';
import { CHECK_TAIL_CHARS, runCheck, type CheckPlace } from '../../lib/checks/check-runner.js';
import { checkEnding, failedChecks, taskChecks } from '../../lib/checks/task-checks.js';
import { parseTask } from '../../lib/protocol/task.js';
import { RefusingSandbox, UnsandboxedRunner } from '../../lib/sandbox/unsandboxed-runner.js';
import { mergeRounds } from '../../src/domain/verified-handler.js';

let dir: string;
let place: CheckPlace;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dan-checks-'));
  place = { sandbox: new UnsandboxedRunner('off'), cwd: dir, timeoutMs: 30_000, maxOutputBytes: 64 * 1024 };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('runCheck', () => {
  it('passes a check that exits 0, in the workspace', async () => {
    writeFileSync(path.join(dir, 'answer.txt'), '42\n');
    const run = await runCheck('grep -q 42 answer.txt && echo found', 1, place);
    expect(run).toMatchObject({ command: 'grep -q 42 answer.txt && echo found', exit_code: 0, ok: true, output_tail: 'found', round: 1 });
    expect(run.ended).toBeUndefined();
    expect(run.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it('fails a check that exits non-zero, with its exit code and both output streams', async () => {
    const run = await runCheck('echo building; echo "src/a.ts(3,1): error TS2304" >&2; exit 2', 2, place);
    expect(run).toMatchObject({ exit_code: 2, ok: false, round: 2 });
    expect(run.output_tail).toBe('building\nsrc/a.ts(3,1): error TS2304');
    expect(checkEnding(run)).toBe('exit 2');
  });

  it('says a command that does not exist was not found', async () => {
    const run = await runCheck('no-such-checker --all', 1, place);
    expect(run).toMatchObject({ exit_code: 127, ok: false, ended: 'not_found' });
    expect(run.output_tail).toMatch(/no-such-checker.*not found/);
    expect(checkEnding(run)).toBe('not found (exit 127)');
  });

  it('kills a check that hangs at its timeout, with what it printed', async () => {
    const run = await runCheck('echo started; sleep 600', 1, { ...place, timeoutMs: 300 });
    expect(run).toMatchObject({ exit_code: null, ok: false, ended: 'timeout' });
    expect(run.output_tail).toMatch(/^started\n\[killed after 300 ms: DAN_CHECK_TIMEOUT_MS\]$/);
  });

  it('keeps the end of megabytes of output within the cap', async () => {
    const run = await runCheck('i=0; while [ $i -lt 60000 ]; do echo "line $i of noise"; i=$((i+1)); done; echo LAST; exit 1', 1, { ...place, maxOutputBytes: 10_000 });
    expect(run).toMatchObject({ exit_code: 1, ok: false });
    expect(run.output_tail.length).toBeLessThanOrEqual(CHECK_TAIL_CHARS + 3);
    expect(run.output_tail.endsWith('LAST')).toBe(true);
  });

  it('refuses to run where no sandbox can be had, naming the fix', async () => {
    const run = await runCheck('true', 1, { ...place, sandbox: new RefusingSandbox('bwrap could not be started') });
    expect(run).toMatchObject({ exit_code: null, ok: false, ended: 'not_found' });
    expect(run.output_tail).toMatch(/apt-get install bubblewrap.*DAN_SANDBOX=off/);
  });

  it('stops with the task', async () => {
    const controller = new AbortController();
    const running = runCheck('sleep 600', 1, place, controller.signal);
    controller.abort();
    expect(await running).toMatchObject({ ok: false, ended: 'stopped' });
  });
});

describe('taskChecks', () => {
  it("adds a task's checks after its domain's by default, each once", () => {
    expect(taskChecks(['npx tsc --noEmit'], ['npm test', 'npx tsc --noEmit'])).toEqual(['npx tsc --noEmit', 'npm test']);
    expect(taskChecks(['npm test'], undefined)).toEqual(['npm test']);
  });

  it("replaces the domain's checks when asked, and an empty list turns them off", () => {
    expect(taskChecks(['npm test'], ['make check'], 'replace')).toEqual(['make check']);
    expect(taskChecks(['npm test'], [], 'replace')).toEqual([]);
  });

  it('hands only the failed checks to the next round', () => {
    const ok = { command: 'a', exit_code: 0, duration_ms: 1, ok: true, output_tail: 'fine', round: 1 };
    const bad = { command: 'b', exit_code: 1, duration_ms: 1, ok: false, output_tail: 'broken', round: 1 };
    expect(failedChecks([ok, bad])).toEqual([{ command: 'b', exit_code: 1, output_tail: 'broken' }]);
  });
});

describe('mergeRounds', () => {
  it('keeps a file created in the first round as created when the second fixes it, and adds the tokens', () => {
    const first = { summary: 'wrote it', files_created: ['sum.js'], files_modified: [], workers_used: ['api'], usage: { input_tokens: 10, output_tokens: 5 } };
    const second = { summary: 'fixed it', files_created: [], files_modified: ['sum.js', 'README.md'], workers_used: ['api'], usage: { input_tokens: 20, output_tokens: 1 } };
    expect(mergeRounds(first, second)).toMatchObject({
      summary: 'fixed it', files_created: ['sum.js'], files_modified: ['README.md'], workers_used: ['api'],
      usage: { input_tokens: 30, output_tokens: 6 },
    });
  });
});

describe('checks in a task and in domain.md', () => {
  it('reads metadata.verify and verify_mode, and refuses what is not a list of commands', () => {
    const task = (metadata: unknown) => JSON.stringify({ task_id: 't1', payload: { description: 'x' }, metadata });
    const ok = parseTask(task({ verify: ['npm test'], verify_mode: 'replace' }));
    expect(ok.kind === 'ok' && ok.task.metadata).toMatchObject({ verify: ['npm test'], verify_mode: 'replace' });
    expect(parseTask(task({ verify: 'npm test' }))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/metadata\.verify must be a list of commands/) });
    expect(parseTask(task({ verify: [''] }))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/must not be empty/) });
    expect(parseTask(task({ verify_mode: 'merge' }))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/must be add or replace/) });
  });

  it("reads a domain's verify: as whole commands, commas and all", () => {
    const agents = mkdtempSync(path.join(os.tmpdir(), 'dan-agents-'));
    try {
      cpSync(path.resolve(import.meta.dirname, '../../agents'), agents, { recursive: true });
      const file = path.join(agents, 'backend', 'domain.md');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.replace(/^---\n/, '---\nverify:\n  - npx tsc --noEmit\n  - npm test -- --reporter=dot,summary\n'));
      expect(loadAgentCatalog(agents).domain('backend')?.verify).toEqual(['npx tsc --noEmit', 'npm test -- --reporter=dot,summary']);
      expect(loadAgentCatalog(agents).domain('frontend')?.verify).toBeUndefined();
      writeFileSync(file, text.replace(/^---\n/, '---\nverify: 42\n'));
      expect(() => loadAgentCatalog(agents)).toThrow(AgentDefinitionError);
    } finally {
      rmSync(agents, { recursive: true, force: true });
    }
  });
});
