import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import type { ReplySpec, Rule } from '../../lib/llm/local-server/rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd, encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
  }).trim();
}

/** A repository folder in the network's workspace, on branch main with one commit (README.md). */
function makeRepo(network: TestNetwork, name: string, options: { commit?: boolean } = {}): string {
  const dir = path.join(network.workspace, name);
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  if (options.commit !== false) {
    writeFileSync(path.join(dir, 'README.md'), '# project\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'start');
  }
  return dir;
}

/**
 * A worker whose task mentions `marker`: writes `file` with `content` (its first reply after
 * `delayMs`, so tasks sent together are at work at once); with `listSeen`, then lists every file it
 * sees (Glob) into `seen-<marker>.txt`; then answers.
 */
function scriptedWorker(marker: string, file: string, content: string, options: { delayMs?: number; listSeen?: boolean; bash?: string } = {}): Rule {
  return {
    name: `worker-${marker}`,
    when: { system: '^\\s*Worker:\\s*\\S', anyText: `^Task: ${marker}` },
    reply: ({ facts }): ReplySpec => {
      const at = (f: string) => path.posix.join(facts.cwd, f);
      const step = facts.priorToolUses;
      if (options.bash && step === 0) return { tool_use: [{ name: 'Bash', input: { command: options.bash } }] };
      if (options.bash && step === 1) return { text: JSON.stringify({ summary: 'ran a command' }) };
      if (step === 0) return { tool_use: [{ name: 'Write', input: { file_path: at(file), content } }], ...(options.delayMs ? { delay_ms: options.delayMs } : {}) };
      if (options.listSeen && step === 1) return { tool_use: [{ name: 'Glob', input: { pattern: '**/*' } }] };
      if (options.listSeen && step === 2) {
        return { tool_use: [{ name: 'Write', input: { file_path: at(`seen-${marker}.txt`), content: facts.lastToolResult?.text ?? '' } }] };
      }
      return { text: JSON.stringify({ summary: `wrote ${file}` }) };
    },
  };
}

const rules: Rule[] = [
  scriptedWorker('alpha-task', 'alpha.txt', 'alpha\n', { delayMs: 800, listSeen: true }),
  scriptedWorker('beta-task', 'beta.txt', 'beta\n', { delayMs: 800, listSeen: true }),
  scriptedWorker('left-task', 'shared.txt', 'from left\n', { delayMs: 800 }),
  scriptedWorker('right-task', 'shared.txt', 'from right\n', { delayMs: 800 }),
  scriptedWorker('plain-task', 'plain.txt', 'plain\n'),
  scriptedWorker('git-task', 'unused', '', { bash: 'git log --format=%s -1 > head.txt && git status --short --untracked-files=all >> head.txt && ls .. > around.txt' }),
  scriptedWorker('first-step', 'api.txt', 'api\n'),
  scriptedWorker('second-step', 'page.txt', 'page\n', { listSeen: true }),
  {
    // Writes a file, then the model API refuses the next turn: the worker fails mid-task.
    name: 'worker-half-done', when: { system: '^\\s*Worker:\\s*\\S', anyText: '^Task: half-done-task' },
    reply: ({ facts }): ReplySpec => facts.priorToolUses === 0
      ? { tool_use: [{ name: 'Write', input: { file_path: path.posix.join(facts.cwd, 'partial.txt'), content: 'partial\n' } }] }
      : { error: { status: 400, type: 'invalid_request_error', message: 'scripted refusal' } },
  },
  {
    name: 'ordered-plan', when: { system: 'dan-router', anyText: 'ordered-task' },
    reply: { text: JSON.stringify({ steps: [
      { domain: 'backend', description: 'first-step: write the api', depends_on: [] },
      { domain: 'frontend', description: 'second-step: a page on the api', depends_on: ['backend'] },
    ] }) },
  },
  ...defaultRules(),
];

type Output = Record<string, unknown> & { branch?: string; commit?: string; base_commit?: string; delivery?: string; failure?: { code: string } };

describe('each task on its own branch', () => {
  let network: TestNetwork;
  const taskDir = mkdtempSync(path.join(os.tmpdir(), 'dan-test-task-dir-'));

  beforeAll(async () => {
    network = await startTestNetwork({ rules, env: { DAN_WORKERS_PER_TASK: '1', DAN_ELF: 'off', DAN_ROUTER: 'llm', DAN_TASK_DIR: taskDir } });
  });
  afterAll(async () => {
    await network?.stop();
    rmSync(taskDir, { recursive: true, force: true });
  });

  async function run(description: string, repo: string, metadata: Record<string, unknown> = {}, domain = 'backend'): Promise<{ taskId: string; hash: Record<string, string>; output: Output }> {
    const { taskId } = await submitTask(network.redis, network.keys, { domain, description, context: { workspace: repo }, extraMetadata: metadata });
    const hash = await network.waitFor(taskId);
    return { taskId, hash, output: JSON.parse(hash['output'] ?? '{}') as Output };
  }

  it("lands a task's files on dan/<id>, merges them into the workspace's branch, removes its worktree, and dan diff prints them", async () => {
    const repo = makeRepo(network, 'merged');
    const { taskId, hash, output } = await run('plain-task: write a file', 'merged');
    expect(hash['status']).toBe('completed');
    expect(output).toMatchObject({ branch: `dan/${taskId}`, delivery: 'merged', merged_into: 'main', repository: repo, files_created: ['plain.txt'] });
    expect(git(repo, 'rev-parse', `dan/${taskId}`)).toBe(output.commit);
    expect(git(repo, 'show', `dan/${taskId}:plain.txt`)).toBe('plain');
    expect(readFileSync(path.join(repo, 'plain.txt'), 'utf8')).toBe('plain\n');
    expect(git(repo, 'merge-base', '--is-ancestor', output.commit!, 'main')).toBe('');
    expect(git(repo, 'status', '--porcelain')).toBe('');
    expect(git(repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);

    const diff = await runProcess(process.execPath, [bin, 'diff', taskId], { env: cliEnv(network) });
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain('+++ b/plain.txt');
    expect(diff.stdout).toContain('+plain');
    expect(diff.stdout).not.toContain('README.md');
    const status = await runProcess(process.execPath, [bin, 'status', taskId], { env: cliEnv(network) });
    expect(status.stdout).toContain(`branch: dan/${taskId} at ${output.commit!.slice(0, 12)}, merged into main`);
  });

  it("keeps two concurrent tasks on one repository from seeing or overwriting each other's files", async () => {
    const repo = makeRepo(network, 'concurrent');
    const [a, b] = await Promise.all([run('alpha-task: write alpha', 'concurrent'), run('beta-task: write beta', 'concurrent')]);
    expect(a!.hash['status']).toBe('completed');
    expect(b!.hash['status']).toBe('completed');
    // Both started from the same commit, so each ran while the other's work was not yet merged.
    expect(a!.output.base_commit).toBe(b!.output.base_commit);
    const seenByAlpha = git(repo, 'show', `dan/${a!.taskId}:seen-alpha-task.txt`);
    const seenByBeta = git(repo, 'show', `dan/${b!.taskId}:seen-beta-task.txt`);
    expect(seenByAlpha).toContain('alpha.txt');
    expect(seenByAlpha).not.toContain('beta.txt');
    expect(seenByBeta).toContain('beta.txt');
    expect(seenByBeta).not.toContain('alpha.txt');
    expect(git(repo, 'diff', '--name-only', a!.output.base_commit!, a!.output.commit!).split('\n').sort()).toEqual(['alpha.txt', 'seen-alpha-task.txt']);
    expect(git(repo, 'diff', '--name-only', b!.output.base_commit!, b!.output.commit!).split('\n').sort()).toEqual(['beta.txt', 'seen-beta-task.txt']);
    expect(readFileSync(path.join(repo, 'alpha.txt'), 'utf8')).toBe('alpha\n');
    expect(readFileSync(path.join(repo, 'beta.txt'), 'utf8')).toBe('beta\n');
  });

  it('ends the second of two tasks that changed one file failed with merge_conflict, its work kept on its branch', async () => {
    const repo = makeRepo(network, 'conflict');
    const results = await Promise.all([run('left-task: write shared', 'conflict'), run('right-task: write shared', 'conflict')]);
    const merged = results.filter((r) => r.hash['status'] === 'completed');
    const refused = results.filter((r) => r.hash['status'] === 'failed');
    expect(merged).toHaveLength(1);
    expect(refused).toHaveLength(1);
    const loser = refused[0]!;
    expect(loser.output.failure?.code).toBe('merge_conflict');
    expect(loser.output).toMatchObject({ branch: `dan/${loser.taskId}`, delivery: 'kept' });
    expect(loser.hash['error']).toContain('shared.txt');
    expect(loser.hash['error']).toContain(`git merge dan/${loser.taskId}`);
    const kept = git(repo, 'show', `dan/${loser.taskId}:shared.txt`);
    const winner = git(repo, 'show', `dan/${merged[0]!.taskId}:shared.txt`);
    expect([kept, winner].sort()).toEqual(['from left', 'from right']);
    // The workspace holds the merged task's file, untouched by the other, and no merge in progress.
    expect(readFileSync(path.join(repo, 'shared.txt'), 'utf8')).toBe(`${winner}\n`);
    expect(git(repo, 'status', '--porcelain')).toBe('');
  });

  it("lets a worker's commands use git in the task's worktree, and see no other folder beside it", async () => {
    const repo = makeRepo(network, 'git-reads');
    const { taskId, hash } = await run('git-task: look at the history', 'git-reads');
    expect(hash['status']).toBe('completed');
    expect(git(repo, 'show', `dan/${taskId}:head.txt`)).toBe('start\n?? head.txt');
    expect(git(repo, 'show', `dan/${taskId}:around.txt`)).toBe(taskId);
  });

  it("builds a routed task's sub-tasks on each other in order: the later starts from the earlier's merged work", async () => {
    const repo = makeRepo(network, 'routed');
    const parent = await run('ordered-task: an api and a page on it', 'routed', {}, 'main');
    expect(parent.hash['status']).toBe('completed');
    const child = async (domain: string) => JSON.parse((await network.redis.hget(network.keys.result(`${parent.taskId}-${domain}`), 'output')) ?? '{}') as Output;
    const first = await child('backend');
    const second = await child('frontend');
    expect(first.delivery).toBe('merged');
    expect(second.delivery).toBe('merged');
    expect(git(repo, 'merge-base', '--is-ancestor', first.commit!, second.base_commit!)).toBe('');
    expect(git(repo, 'show', `${second.branch!}:seen-second-step.txt`)).toContain('api.txt');
    expect(readFileSync(path.join(repo, 'page.txt'), 'utf8')).toBe('page\n');
    // The parent has no branch: its diff is its sub-tasks', in order.
    const diff = await runProcess(process.execPath, [bin, 'diff', parent.taskId, '--stat'], { env: cliEnv(network) });
    expect(diff.code).toBe(0);
    const headers = diff.stdout.split('\n').filter((l) => l.startsWith('# '));
    expect(headers).toEqual([`# ${parent.taskId}-backend: ${first.branch!}`, `# ${parent.taskId}-frontend: ${second.branch!}`]);
    expect(diff.stdout).toContain('api.txt');
    expect(diff.stdout).toContain('page.txt');
  });

  it("keeps a failed task's work on its branch, undelivered, and removes its worktree", async () => {
    const repo = makeRepo(network, 'half-done');
    const { taskId, hash, output } = await run('half-done-task: start and fail', 'half-done');
    expect(hash['status']).toBe('failed');
    expect(output.failure?.code).toBe('llm_bad_request');
    expect(output.delivery).toBe('kept');
    expect(git(repo, 'show', `dan/${taskId}:partial.txt`)).toBe('partial');
    expect(existsSync(path.join(repo, 'partial.txt'))).toBe(false);
    expect(git(repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);
    expect(existsSync(path.join(taskDir, taskId))).toBe(false);
  });

  it('pushes the branch to a remote when the task asks for push, leaving the workspace branch as it was', async () => {
    const repo = makeRepo(network, 'pushed');
    const bare = mkdtempSync(path.join(os.tmpdir(), 'dan-test-remote-'));
    try {
      git(bare, 'init', '-q', '--bare');
      git(repo, 'remote', 'add', 'origin', bare);
      const head = git(repo, 'rev-parse', 'HEAD');
      const { taskId, hash, output } = await run('plain-task: write a file', 'pushed', { delivery: 'push' });
      expect(hash['status']).toBe('completed');
      expect(output).toMatchObject({ delivery: 'pushed', remote: 'origin', branch: `dan/${taskId}` });
      expect(git(bare, 'rev-parse', `dan/${taskId}`)).toBe(output.commit);
      expect(git(repo, 'rev-parse', 'HEAD')).toBe(head);
      expect(existsSync(path.join(repo, 'plain.txt'))).toBe(false);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });

  it('fails with delivery_failed, the branch kept, when there is no remote to push to', async () => {
    const repo = makeRepo(network, 'no-remote');
    const { taskId, hash, output } = await run('plain-task: write a file', 'no-remote', { delivery: 'push' });
    expect(hash['status']).toBe('failed');
    expect(output.failure?.code).toBe('delivery_failed');
    expect(hash['error']).toContain('DAN_TASK_REMOTE');
    expect(git(repo, 'show', `dan/${taskId}:plain.txt`)).toBe('plain');
  });

  it('leaves the work on its branch when dan send --delivery branch asks for it', async () => {
    const repo = makeRepo(network, 'left');
    const sent = await runProcess(process.execPath, [bin, 'send', 'backend', 'plain-task: write a file', '-c', '{"workspace": "left"}', '--delivery', 'branch', '--wait', '--json'], { env: cliEnv(network) });
    expect(sent.code).toBe(0);
    const { task_id: taskId, status, output } = JSON.parse(sent.stdout) as { task_id: string; status: string; output: Output };
    expect(status).toBe('completed');
    expect(output.delivery).toBe('branch');
    expect(git(repo, 'show', `dan/${taskId}:plain.txt`)).toBe('plain');
    expect(existsSync(path.join(repo, 'plain.txt'))).toBe(false);
  });

  it('starts from HEAD in a workspace with uncommitted changes, says so, and leaves those changes alone', async () => {
    const repo = makeRepo(network, 'dirty');
    writeFileSync(path.join(repo, 'README.md'), '# edited, not committed\n');
    const { taskId, hash, output } = await run('plain-task: write a file', 'dirty');
    expect(hash['status']).toBe('completed');
    expect(output.delivery).toBe('merged');
    expect(readFileSync(path.join(repo, 'README.md'), 'utf8')).toBe('# edited, not committed\n');
    expect(readFileSync(path.join(repo, 'plain.txt'), 'utf8')).toBe('plain\n');
    const logs = await network.redis.lrange(network.keys.logs(taskId), 0, -1);
    expect(logs.some((l) => l.includes('uncommitted changes'))).toBe(true);
  });

  it('leaves the work on its branch at a detached HEAD, where there is no branch to merge into', async () => {
    const repo = makeRepo(network, 'detached');
    git(repo, 'checkout', '-q', '--detach');
    const { taskId, hash, output } = await run('plain-task: write a file', 'detached');
    expect(hash['status']).toBe('completed');
    expect(output.delivery).toBe('branch');
    expect(git(repo, 'show', `dan/${taskId}:plain.txt`)).toBe('plain');
  });

  it('works in the folder itself, as before, in a repository without commits and in a folder that is no repository', async () => {
    const empty = makeRepo(network, 'no-commits', { commit: false });
    const first = await run('plain-task: write a file', 'no-commits');
    expect(first.hash['status']).toBe('completed');
    expect(first.output.branch).toBeUndefined();
    expect(readFileSync(path.join(empty, 'plain.txt'), 'utf8')).toBe('plain\n');
    const logs = await network.redis.lrange(network.keys.logs(first.taskId), 0, -1);
    expect(logs.some((l) => l.includes('no commits yet'))).toBe(true);

    mkdirSync(path.join(network.workspace, 'plain-folder'));
    const second = await run('plain-task: write a file', 'plain-folder');
    expect(second.hash['status']).toBe('completed');
    expect(second.output.branch).toBeUndefined();
    expect(readFileSync(path.join(network.workspace, 'plain-folder', 'plain.txt'), 'utf8')).toBe('plain\n');
    const diff = await runProcess(process.execPath, [bin, 'diff', second.taskId], { env: cliEnv(network) });
    expect(diff.code).toBe(1);
    expect(diff.stderr).toContain('not a git repository');
  });
});
