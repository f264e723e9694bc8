import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';
import { SUM_CHECK, sumWorkerRules } from '../support/sum-rules.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const CHECK = SUM_CHECK;
let network: TestNetwork;

const rules: Rule[] = [
  ...sumWorkerRules,
  {
    // A routed task's plan: backend first, then frontend on what backend left.
    name: 'routed plan', when: { system: 'dan-router' },
    reply: { text: JSON.stringify({ steps: [
      { domain: 'backend', description: 'stubborn: a first sum.js', depends_on: [] },
      { domain: 'frontend', description: 'repairable: finish sum.js', depends_on: ['backend'] },
    ] }) },
  },
  {
    name: 'done',
    when: { hasToolResult: true },
    reply: { text: '{"summary": "wrote sum.js", "files_created": ["sum.js"], "files_modified": []}' },
  },
];

/** A task's own folder of the test workspace, so the tasks' sum.js files stay apart. */
function folder(name: string): string {
  const dir = path.join(network.workspace, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

const dan = (args: string[]) => runProcess(process.execPath, [bin, ...args], { env: cliEnv(network), timeoutMs: 90_000 });

/** The task's result as `dan status --json` prints it (it exits 1 for a failed task). */
async function status(taskId: string): Promise<{ status: string; error?: string; output: Record<string, unknown> }> {
  const run = await dan(['status', taskId, '--json']);
  return JSON.parse(run.stdout) as { status: string; error?: string; output: Record<string, unknown> };
}

/** What the model was asked that contains `text`. */
function asked(text: string): boolean {
  return network.model.requests.some((r) => r.path.startsWith('/v1/messages') && JSON.stringify(r.body).includes(text));
}

beforeAll(async () => {
  network = await startTestNetwork({
    rules,
    env: { DAN_WORKERS_PER_TASK: '1', DAN_VERIFY_ROUNDS: '2', DAN_ROUTER: 'llm' },
    // A domain like backend whose domain.md declares the check itself.
    prepareAgents: (dir) => {
      cpSync(path.join(dir, 'backend'), path.join(dir, 'checked'), { recursive: true });
      const file = path.join(dir, 'checked', 'domain.md');
      const text = readFileSync(file, 'utf8').replace(/^name: backend$/m, 'name: checked').replace(/^fallback: true$/m, 'fallback: false');
      writeFileSync(file, text.replace(/^---\n/, `---\nverify:\n  - ${CHECK}\n`));
    },
  });
});
afterAll(async () => { await network.stop(); });

describe('dan send --verify', () => {
  it('sends a failing check back to the workers, and completes once their repair passes it', async () => {
    const dir = folder('repaired');
    const run = await dan(['send', 'backend', 'repairable: add a sum function', '--id', 'verify-repaired', '-c', '{"workspace": "repaired"}', '--verify', CHECK, '--wait']);
    expect(run.stderr).toMatch(/check failed \(exit 1, \d+ ms\): cat sum\.js/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/completed \(backend\)/);
    expect(run.stdout).toMatch(/check FAILED, exit 1 \(\d+\.\d s, round 1\): cat sum\.js && grep -q fixed sum\.js/);
    expect(run.stdout).toMatch(/check passed \(\d+\.\d s, round 2\): cat sum\.js/);
    expect(readFileSync(path.join(dir, 'sum.js'), 'utf8')).toMatch(/fixed/);
    // The second round's workers were shown the check, its exit code and its output.
    expect(asked('`cat sum.js && grep -q fixed sum.js` ended with exit code 1')).toBe(true);
    expect(asked('module.exports = (a, b) => a - b; // broken')).toBe(true);
    const result = await status('verify-repaired');
    expect(result.status).toBe('completed');
    expect(result.output).toMatchObject({ rounds: 2, files_created: ['sum.js'] });
    expect(result.output['checks']).toEqual([
      { command: CHECK, exit_code: 1, ok: false, round: 1, duration_ms: expect.any(Number), output_tail: 'module.exports = (a, b) => a - b; // broken' },
      { command: CHECK, exit_code: 0, ok: true, round: 2, duration_ms: expect.any(Number), output_tail: 'module.exports = (a, b) => a + b; // fixed' },
    ]);
  });

  it('fails verification_failed with the check, its exit code and the tail of its output when the rounds run out', async () => {
    folder('never');
    const run = await dan(['send', 'backend', 'stubborn: add a sum function', '--id', 'verify-never', '-c', '{"workspace": "never"}', '--verify', CHECK, '--wait']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/failure: verification_failed/);
    expect(run.stdout).toMatch(/error: check `cat sum\.js && grep -q fixed sum\.js` still failed after 2 round\(s\) \(exit 1\): module\.exports = \(a, b\) => a - b; \/\/ broken/);
    const result = await status('verify-never');
    expect(result.output['failure']).toEqual({ code: 'verification_failed', retryable: false });
    expect(result.output['rounds']).toBe(2);
    const checks = result.output['checks'] as { exit_code: number; output_tail: string; round: number }[];
    expect(checks.map((c) => [c.round, c.exit_code, c.output_tail])).toEqual([
      [1, 1, 'module.exports = (a, b) => a - b; // broken'],
      [2, 1, 'module.exports = (a, b) => a - b; // broken'],
    ]);
  });

  it('ends a task whose check does not exist at once, saying so', async () => {
    folder('missing');
    const run = await dan(['send', 'backend', 'stubborn: add a sum function', '--id', 'verify-missing', '-c', '{"workspace": "missing"}', '--verify', 'no-such-checker', '--wait']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/error: check `no-such-checker` not found \(exit 127\): .*not found; fix the command in the domain's verify: or the task's --verify/);
    const result = await status('verify-missing');
    expect(result.output).toMatchObject({ failure: { code: 'verification_failed', retryable: false }, rounds: 1 });
  });

  it("gives a routed task's checks to its last step, which repairs until they pass on the whole task's work", async () => {
    const dir = folder('routed');
    const run = await dan(['send', 'main', 'add a sum function', '--id', 'verify-routed', '-c', '{"workspace": "routed"}', '--verify', CHECK, '--wait']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(readFileSync(path.join(dir, 'sum.js'), 'utf8')).toMatch(/fixed/);
    const result = await status('verify-routed');
    const children = Object.values(result.output['children'] as Record<string, { domain: string; rounds?: number; checks?: { round: number; ok: boolean; command: string }[] }>);
    const byDomain = new Map(children.map((c) => [c.domain, c]));
    // backend, which frontend builds on, ran no check: its broken sum.js was frontend's to finish.
    expect(byDomain.get('backend')).toMatchObject({ checks: [] });
    expect(byDomain.get('frontend')?.rounds).toBe(2);
    expect(byDomain.get('frontend')?.checks?.map((c) => [c.round, c.ok, c.command])).toEqual([[1, false, CHECK], [2, true, CHECK]]);
  });
});

describe("a domain's verify:", () => {
  it('runs the checks domain.md declares on every task, with the same repair rounds', async () => {
    const dir = folder('domain');
    const run = await dan(['send', 'checked', 'repairable: add a sum function', '--id', 'verify-domain', '-c', '{"workspace": "domain"}', '--wait']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/check passed \(\d+\.\d s, round 2\): cat sum\.js && grep -q fixed sum\.js/);
    expect(readFileSync(path.join(dir, 'sum.js'), 'utf8')).toMatch(/fixed/);
  });

  it('runs none of them with --verify-replace and no --verify', async () => {
    folder('replaced');
    const run = await dan(['send', 'checked', 'stubborn: add a sum function', '--id', 'verify-replaced', '-c', '{"workspace": "replaced"}', '--verify-replace', '--wait']);
    expect(run.code).toBe(0);
    const result = await status('verify-replaced');
    expect(result.output['checks']).toEqual([]);
  });
});

describe('checks on a task that works on its own branch', () => {
  it('run in the task\'s worktree before delivery, and only work that passed them is merged', async () => {
    const dir = folder('repo-checked');
    const git = (...args: string[]) => runProcess('git', ['-C', dir, ...args], { timeoutMs: 30_000 });
    await git('init', '-q', '-b', 'main');
    writeFileSync(path.join(dir, 'README.md'), '# repo\n');
    await git('add', '-A');
    await git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'first');

    const run = await dan(['send', 'backend', 'repairable: add a sum function', '--id', 'verify-branch', '-c', '{"workspace": "repo-checked"}', '--verify', CHECK, '--wait']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const result = await status('verify-branch');
    // The first round's broken sum.js was checked (and failed) where the worker wrote it: on the branch,
    // not in the checkout, which held no sum.js until the merge.
    expect(result.output['checks']).toMatchObject([{ round: 1, ok: false }, { round: 2, ok: true }]);
    expect(result.output).toMatchObject({ branch: 'dan/verify-branch', delivery: 'merged' });
    expect(readFileSync(path.join(dir, 'sum.js'), 'utf8')).toMatch(/fixed/);
    expect((await git('log', '--format=%s', 'main')).stdout).toContain('verify-branch');
  });

  it("reach the checkout's installed dependencies from the worktree, read-only, and never commit them", async () => {
    const dir = folder('repo-deps');
    const git = (...args: string[]) => runProcess('git', ['-C', dir, ...args], { timeoutMs: 30_000 });
    await git('init', '-q', '-b', 'main');
    writeFileSync(path.join(dir, '.gitignore'), 'node_modules/\n');
    writeFileSync(path.join(dir, 'README.md'), '# repo\n');
    await git('add', '-A');
    await git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'first');
    // An installed package, as `npm ci` leaves it: in the checkout, ignored by git.
    mkdirSync(path.join(dir, 'node_modules', 'adder'), { recursive: true });
    writeFileSync(path.join(dir, 'node_modules', 'adder', 'index.js'), 'module.exports = (a, b) => a + b;\n');
    // The check needs the package, and tries to change it (which must fail) after using it.
    const check = 'node -e "if (require(\'adder\')(2, 3) !== 5) process.exit(1)" && ! (echo tampered > node_modules/adder/index.js) 2>/dev/null';

    const run = await dan(['send', 'backend', 'stubborn: add a sum function', '--id', 'verify-deps', '-c', '{"workspace": "repo-deps"}', '--verify', check, '--wait']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stderr + run.stdout).toMatch(/node_modules linked from the checkout, read-only/);
    const result = await status('verify-deps');
    expect(result.output['checks']).toMatchObject([{ round: 1, ok: true }]);
    expect(readFileSync(path.join(dir, 'node_modules', 'adder', 'index.js'), 'utf8')).toBe('module.exports = (a, b) => a + b;\n');
    // The branch holds the work, not the link; the checkout is clean, and its exclude names the link once.
    expect((await git('ls-tree', '-r', '--name-only', 'dan/verify-deps')).stdout.split('\n').filter((l) => l !== '').sort()).toEqual(['.gitignore', 'README.md', 'sum.js']);
    expect((await git('status', '--porcelain')).stdout).toBe('');
    const exclude = readFileSync(path.join(dir, '.git', 'info', 'exclude'), 'utf8');
    expect(exclude.split('\n').filter((l) => l === '/node_modules')).toHaveLength(1);
  });
});
