import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { git } from '../farm/farm-git.js';

/** 64 KiB of changes shown to a reviewer: a larger diff is cut, and says so. */
export const MAX_CHANGES_CHARS = 64 * 1024;

/**
 * What a round's workers changed, as a reviewer reads it. In a task's worktree (its own branch): the
 * diff from the commit the task started on to the files as they are now, new files included (they
 * are marked intent-to-add, which the delivery's commit stages anyway). Elsewhere: the files the
 * workers reported, each in full, since there is no base to diff against. Files the workers wrote
 * choose no program to show them (no external diff, no textconv): only the repository's own config could.
 */
export async function workChanges(workspace: string, reported: readonly string[], onBranch: boolean): Promise<string> {
  if (onBranch) {
    await git(workspace, ['add', '--intent-to-add', '--all']);
    return cut(await git(workspace, ['diff', '--no-color', '--no-ext-diff', '--no-textconv', 'HEAD', '--']));
  }
  const parts: string[] = [];
  const root = realpathSync(workspace) + path.sep;
  for (const file of reported) {
    const full = path.resolve(workspace, file);
    // Resolved links too: a link the workers left must not show the reviewer a file outside.
    if (!existsSync(full) || !realpathSync(full).startsWith(root) || !statSync(full).isFile()) {
      parts.push(`--- ${file} (gone or outside the workspace)`);
      continue;
    }
    const lines = readFileSync(full, 'utf8').split('\n');
    parts.push(`--- ${file}`, ...lines.map((line, i) => `${i + 1}: ${line}`));
  }
  return cut(parts.join('\n'));
}

function cut(text: string): string {
  return text.length <= MAX_CHANGES_CHARS ? text : `${text.slice(0, MAX_CHANGES_CHARS)}\n[... cut: ${text.length - MAX_CHANGES_CHARS} more characters]`;
}
