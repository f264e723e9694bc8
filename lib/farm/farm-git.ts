import { execFile } from 'node:child_process';
import { DanError } from '../errors.js';

/** The output of a git command; a failure throws with git's own message. */
export function git(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, {
      cwd, maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...FARM_AUTHOR, ...env },
    }, (error, stdout, stderr) => {
      if (error) reject(new DanError('git_failed', `git ${args.join(' ')} failed in ${cwd}: ${(stderr || error.message).trim().split('\n').slice(-3).join(' | ')}`));
      else resolve(stdout);
    });
  });
}

// Commits made by the farm name it, whatever the machine's git configuration says.
const FARM_AUTHOR = {
  GIT_AUTHOR_NAME: 'dan farm', GIT_AUTHOR_EMAIL: 'farm@dan.local',
  GIT_COMMITTER_NAME: 'dan farm', GIT_COMMITTER_EMAIL: 'farm@dan.local',
};

/** The top folder of the repository `dir` is in, or undefined when it is not in one. */
export async function repositoryRoot(dir: string): Promise<string | undefined> {
  try {
    return (await git(dir, ['rev-parse', '--show-toplevel'])).trim();
  } catch {
    return undefined;
  }
}

/** The commit the farm starts from: HEAD, or undefined for a repository without commits. */
export async function headCommit(root: string): Promise<string | undefined> {
  try {
    return (await git(root, ['rev-parse', '--verify', 'HEAD'])).trim();
  } catch {
    return undefined;
  }
}

/**
 * A worktree at `dir` on branch `branch`, set to `base`. A worktree or branch of the same name left by
 * an earlier attempt of the same farm is replaced.
 */
export async function addWorktree(root: string, dir: string, branch: string, base: string): Promise<void> {
  await removeWorktree(root, dir);
  await git(root, ['worktree', 'add', '-q', '-B', branch, dir, base]);
}

export async function removeWorktree(root: string, dir: string): Promise<void> {
  await git(root, ['worktree', 'remove', '--force', dir]).catch(() => undefined);
  await git(root, ['worktree', 'prune']).catch(() => undefined);
}

/**
 * Commits everything changed in a worktree; returns the files the commit changed (none: no commit).
 * `env` names another author than the farm (a task's own branch).
 */
export async function commitAll(dir: string, message: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  await git(dir, ['add', '-A'], env);
  const changed = (await git(dir, ['diff', '--cached', '--name-only'], env)).split('\n').filter((l) => l !== '');
  if (changed.length === 0) return [];
  await git(dir, ['commit', '-q', '--no-verify', '-m', message], env);
  return changed;
}

/** Files changed on `branch` since `base`. */
export async function changedSince(root: string, base: string, branch: string): Promise<string[]> {
  return (await git(root, ['diff', '--name-only', `${base}...${branch}`])).split('\n').filter((l) => l !== '');
}

export interface MergeOutcome {
  merged: string[];
  conflicts: Array<{ branch: string; files: string[] }>;
}

/**
 * Merges `branches` one by one into the branch checked out at `dir`. A branch that conflicts is
 * not merged (the merge is aborted) and its conflicting files are reported; the others still go in.
 */
export async function mergeBranches(dir: string, branches: readonly string[]): Promise<MergeOutcome> {
  const outcome: MergeOutcome = { merged: [], conflicts: [] };
  for (const branch of branches) {
    try {
      await git(dir, ['merge', '--no-ff', '--no-edit', '-q', '-m', `farm: merge ${branch}`, branch]);
      outcome.merged.push(branch);
    } catch {
      const files = (await git(dir, ['diff', '--name-only', '--diff-filter=U']).catch(() => '')).split('\n').filter((l) => l !== '');
      await git(dir, ['merge', '--abort']).catch(() => undefined);
      outcome.conflicts.push({ branch, files });
    }
  }
  return outcome;
}
