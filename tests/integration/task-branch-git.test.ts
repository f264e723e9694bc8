import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskBranchOptions } from '../../lib/workspace/task-branch.js';
import { TaskBranch } from '../../lib/workspace/task-branch.js';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd, encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
  }).trim();
}

/** A task's branch on real git, without a network: what an agent that dies, or an odd workspace, leaves. */
describe('TaskBranch', () => {
  let tmp: string;
  let repo: string;
  let options: TaskBranchOptions;

  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'dan-test-branch-'));
    repo = path.join(tmp, 'repo');
    mkdirSync(repo);
    git(repo, 'init', '-q', '-b', 'main');
    writeFileSync(path.join(repo, 'README.md'), '# project\n');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'start');
    options = { delivery: 'merge', remote: 'origin', dir: path.join(tmp, 'tasks') };
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('starts a retry afresh from HEAD when an agent died holding the worktree (never closed)', async () => {
    const first = (await TaskBranch.open(repo, 'task-1', options)).branch!;
    writeFileSync(path.join(first.workspace, 'half.txt'), 'half\n');
    const again = (await TaskBranch.open(repo, 'task-1', options)).branch!;
    expect(again.workspace).toBe(first.workspace);
    expect(existsSync(path.join(again.workspace, 'half.txt'))).toBe(false);
    writeFileSync(path.join(again.workspace, 'done.txt'), 'done\n');
    const delivered = await again.finish(true, 'done');
    await again.close();
    expect(delivered.fields.delivery).toBe('merged');
    expect(readFileSync(path.join(repo, 'done.txt'), 'utf8')).toBe('done\n');
    expect(existsSync(again.workspace)).toBe(false);
    expect(git(repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);
  });

  it('ends merge_conflict, naming the fix, when an untracked file in the workspace is in the way of the merge', async () => {
    const branch = (await TaskBranch.open(repo, 'task-2', options)).branch!;
    writeFileSync(path.join(branch.workspace, 'notes.txt'), 'from the task\n');
    writeFileSync(path.join(repo, 'notes.txt'), 'a person is writing this\n');
    const delivered = await branch.finish(true, 'notes');
    await branch.close();
    expect(delivered.failure?.code).toBe('merge_conflict');
    expect(delivered.failure?.message).toContain('commit or stash');
    expect(delivered.fields.delivery).toBe('kept');
    expect(readFileSync(path.join(repo, 'notes.txt'), 'utf8')).toBe('a person is writing this\n');
    expect(git(repo, 'show', 'dan/task-2:notes.txt')).toBe('from the task');
  });

  it('refuses with bad_config, naming DAN_TASK_DIR, when the worktree cannot be made there', async () => {
    writeFileSync(path.join(tmp, 'a-file'), '');
    const opening = TaskBranch.open(repo, 'task-6', { ...options, dir: path.join(tmp, 'a-file', 'tasks') });
    await expect(opening).rejects.toMatchObject({ code: 'bad_config', message: expect.stringContaining('set DAN_TASK_DIR') });
  });

  it('opens no branch, and says why, for a task id git refuses as a branch name', async () => {
    const opened = await TaskBranch.open(repo, 'a..b', options);
    expect(opened.branch).toBeUndefined();
    expect(opened.note).toContain('cannot be part of a git branch name');
  });

  it('opens no branch, and says why, for a folder inside a repository but not its top', async () => {
    mkdirSync(path.join(repo, 'sub'));
    const opened = await TaskBranch.open(path.join(repo, 'sub'), 'task-3', options);
    expect(opened.branch).toBeUndefined();
    expect(opened.note).toContain('not its top folder');
  });

  it('opens no branch, and says how to fix it, for a .git that git cannot use', async () => {
    const broken = path.join(tmp, 'broken');
    mkdirSync(path.join(broken, '.git'), { recursive: true });
    const opened = await TaskBranch.open(broken, 'task-4', options);
    expect(opened.branch).toBeUndefined();
    expect(opened.note).toContain('git cannot use it');
    expect(opened.note).toContain('safe.directory');
  });

  it('opens nothing and says nothing for a folder that is no repository', async () => {
    const plain = path.join(tmp, 'plain');
    mkdirSync(plain);
    expect(await TaskBranch.open(plain, 'task-5', options)).toEqual({});
  });
});
