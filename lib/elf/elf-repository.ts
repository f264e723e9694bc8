import path from 'node:path';

/**
 * The repository a task works in, as ELF keys its trails: the task's `context.path` (a farm's
 * repository), else `context.workspace` (the folder a domain task's workers are confined to), else ''
 * (the workspace itself). The key is the path as written, tidied (`./a/`, `a//` and `a` are one
 * repository); a relative and an absolute spelling of one folder are two keys, so send a repository's
 * tasks with one spelling. The same function runs where a context is asked for and where the outcome
 * is recorded, so the two always agree.
 */
export function repositoryOf(context: Record<string, unknown>): string {
  const named = [context['path'], context['workspace']].find((v): v is string => typeof v === 'string' && v.trim() !== '');
  return named === undefined ? '' : normalizeRepository(named);
}

/** A repository key tidied: slashes collapsed, `.` segments and a trailing slash dropped; at most 1,000 characters. */
export function normalizeRepository(value: string): string {
  const trimmed = value.trim();
  if (trimmed === '') return '';
  const tidy = path.posix.normalize(trimmed.replace(/\\/g, '/')).replace(/\/+$/, '');
  const key = tidy === '.' ? '' : tidy === '' ? '/' : tidy;
  return key.slice(0, 1_000);
}
