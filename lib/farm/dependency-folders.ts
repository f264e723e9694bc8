import { lstatSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { git } from './farm-git.js';

// Folders a package manager fills and a repository ignores: what a problems command needs that a
// fresh worktree lacks (`npx tsc` without node_modules prints "not found", not problems).
const DEPENDENCY_FOLDERS = new Set(['node_modules', 'bower_components', '.venv', 'venv', 'vendor', '.yarn', '.pnp']);

/**
 * The repository's ignored dependency folders (top-level or nested, as `packages/a/node_modules`),
 * relative to `root`: the ones the repository had when the farm first ran its problems command.
 */
export async function ignoredDependencyFolders(root: string): Promise<string[]> {
  const listed = await git(root, ['ls-files', '--others', '--ignored', '--exclude-standard', '--directory']).catch(() => '');
  // Folders end in `/`; an ignored file of the same name is not a dependency folder.
  return listed.split('\n')
    .filter((line) => line.endsWith('/'))
    .map((line) => line.slice(0, -1))
    .filter((line) => DEPENDENCY_FOLDERS.has(path.basename(line)));
}

/**
 * Makes the repository's ignored dependency folders appear in a worktree (a symlink each to the
 * original), so the problems command re-runs there as it ran in the repository. Returns the original
 * folders, which the sandbox must bind read-only for the links to resolve: the command reads the
 * user's dependencies and cannot change them. A worktree that already has the folder keeps its own.
 * The farm links them into its result worktree, where nothing is committed after the check; a task's
 * branch (lib/workspace/task-branch.ts) also lists the links in the repository's info/exclude.
 */
export async function linkDependencies(root: string, worktree: string): Promise<string[]> {
  const linked: string[] = [];
  for (const folder of await ignoredDependencyFolders(root)) {
    const target = path.join(root, folder);
    const link = path.join(worktree, folder);
    if (lstatSync(link, { throwIfNoEntry: false }) || !lstatSync(path.dirname(link), { throwIfNoEntry: false })?.isDirectory()) continue;
    try {
      symlinkSync(target, link, 'dir');
      linked.push(target);
    } catch {
      // Not linked: a command that needs it cannot run, and the farm reports the count as unknown.
    }
  }
  return linked;
}
