import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FarmStore } from '../../lib/farm/farm-store.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';
import { farmRepo, farmRules } from './farm-fixture.js';

let network: TestNetwork;
let farmDir: string;
const repos: string[] = [];

// In a farm whose task says "Slowly", the agent on src/user.js waits 60 s for its first model answer,
// so the other chunk ends well before it.
const slowUser: Rule = { name: 'slow-user-chunk', when: { system: '^Domain: farm$', anyText: '^Task: Slowly fix[\\s\\S]*^Chunk files: src/user\\.js', hasToolResult: false }, reply: { delay_ms: 60_000, text: '{"summary": "thinking"}' } };

beforeAll(async () => {
  farmDir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-wt-'));
  network = await startTestNetwork({ rules: farmRules([slowUser]), env: { DAN_FARM_DIR: farmDir, DAN_FARM_ROOTS: os.tmpdir(), DAN_ELF: 'off' } });
}, 60_000);

afterAll(async () => {
  await network?.stop();
  for (const dir of [...repos, farmDir]) rmSync(dir, { recursive: true, force: true });
});

/**
 * The fixture's linter, installed as a dependency that is not committed (node_modules is ignored),
 * as `npx tsc` is in a real repository. It also flags the fix the agents make in src/cart.js, so a
 * true re-run finds problems there: a count of 0 would mean the checker did not run.
 */
const CHECKER = `
const fs = require('node:fs');
const path = require('node:path');
const root = process.cwd();
let found = 0;
function walk(dir) {
  for (const name of fs.readdirSync(dir).sort()) {
    if (name === '.git' || name === 'node_modules') continue;
    const full = path.join(dir, name);
    if (fs.statSync(full).isDirectory()) { walk(full); continue; }
    if (!name.endsWith('.js')) continue;
    const file = path.relative(root, full);
    fs.readFileSync(full, 'utf8').split('\\n').forEach((line, i) => {
      if (line.includes('TODO' + '-LINT') || (file === 'src/cart.js' && line.includes('LINT-OK'))) { found++; console.log(file + ':' + (i + 1) + ': ' + line.trim()); }
    });
  }
}
walk(root);
process.exit(found === 0 ? 0 : 1);
`;

function repoWithUncommittedChecker(): string {
  const dir = farmRepo((d) => {
    writeFileSync(path.join(d, '.gitignore'), 'node_modules/\n.checkrc\n');
    mkdirSync(path.join(d, 'node_modules', '.bin'), { recursive: true });
    writeFileSync(path.join(d, 'node_modules', '.bin', 'check.cjs'), CHECKER);
    writeFileSync(path.join(d, '.checkrc'), 'strict\n');
  });
  repos.push(dir);
  return dir;
}

async function farm(dir: string, problemsCommand: string, description = 'Fix every lint problem') {
  const { taskId } = await submitTask(network.redis, network.keys, {
    domain: 'farm', description, timeoutSeconds: 600,
    context: { path: dir, agent_count: 2, problems_command: problemsCommand, runtime: 'sdk' },
  });
  return taskId;
}

function dan(args: string[]) {
  return runProcess(process.execPath, ['dist/bundle/cli.mjs', ...args], { env: cliEnv(network), timeoutMs: 120_000 });
}

describe('a farm reports only work it did', () => {
  it('re-runs the problems command with the dependencies the repository had, so the count after comes from the same checker', async () => {
    const dir = repoWithUncommittedChecker();
    const taskId = await farm(dir, 'node node_modules/.bin/check.cjs');
    const hash = await network.waitFor(taskId, 300_000);
    expect(hash['status'], hash['error']).toBe('completed');
    const output = JSON.parse(hash['output']!);
    // The agents turned both markers of src/cart.js into LINT-OK, which this checker flags: 8 -> 2, not 8 -> 0.
    expect(output.problems_before).toBe(8);
    expect(output.problems_after).toBe(2);
    expect(output.problems_left.map((p: { file: string }) => p.file)).toEqual(['src/cart.js', 'src/cart.js']);
    expect(output.summary).toContain('problems 8 -> 2');
    // The user's dependencies are still there (removing the result worktree removed only the link),
    // and nothing of them went into the result.
    expect(existsSync(path.join(dir, 'node_modules', '.bin', 'check.cjs'))).toBe(true);
    expect(output.files_created).toEqual([]);
    expect(execFileSync('git', ['ls-tree', '-r', '--name-only', output.result_branch], { cwd: dir, encoding: 'utf8' })).not.toContain('node_modules');
  }, 360_000);

  it('ends failed with verification_unavailable when the problems command cannot run on the result', async () => {
    const dir = repoWithUncommittedChecker();
    // .checkrc is a local, uncommitted file: the command runs in the repository and not in the result.
    const taskId = await farm(dir, 'test -f .checkrc || { echo "check: no .checkrc here" >&2; exit 2; }; node node_modules/.bin/check.cjs');
    const hash = await network.waitFor(taskId, 300_000);
    expect(hash['status']).toBe('failed');
    expect(hash['error']).toContain('could not verify the result');
    expect(hash['error']).toContain('no .checkrc here');
    const output = JSON.parse(hash['output']!);
    expect(output.failure).toEqual({ code: 'verification_unavailable', retryable: false });
    expect(output.problems_before).toBe(8);
    expect(output.problems_after).toBeNull();
    expect(output.summary).toContain('problems 8 -> unknown');
    expect(output.chunks).toMatchObject({ total: 6, done: 6 });

    const status = await dan(['farm', 'status', taskId]);
    expect(status.stdout).toContain(`farm ${taskId}: failed`);
    expect(status.stdout).toContain('problems 8 -> unknown');
  }, 360_000);

  it('dan farm status shows the chunks done while the farm still runs', async () => {
    const dir = repoWithUncommittedChecker();
    // Two chunks: src/cart.js (quick) and src/user.js (its agent waits for a slow model).
    const taskId = await farm(dir, 'node node_modules/.bin/check.cjs | grep -E "^src/(cart|user)\\.js:"', 'Slowly fix every lint problem');
    const store = new FarmStore(network.redis, network.keys, taskId);
    await until('the cart.js chunk to be done', async () => (await store.chunks()).some((c) => c['status'] === 'done'), 120_000);
    const status = await dan(['farm', 'status', taskId]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`farm ${taskId}: running`);
    expect(status.stdout).toContain('chunks 1 done of 2');
    const stopped = await dan(['farm', 'stop', taskId, '--wait']);
    expect(stopped.code, stopped.stderr).toBe(0);
  }, 360_000);
});
