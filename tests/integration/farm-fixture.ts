import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../lib/config.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import { parseRules } from '../../lib/llm/local-server/rules.js';

/** A fresh copy of tests/fixtures/farm-app as a git repository with one commit; `prepare` may change it first. */
export function farmRepo(prepare?: (dir: string) => void): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-app-'));
  cpSync(path.join(packageRoot(), 'tests', 'fixtures', 'farm-app'), dir, { recursive: true });
  prepare?.(dir);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'fixture');
  return dir;
}

/** The farm rules of the local model server (tests/fixtures/farm-rules.json), after `first`. */
export function farmRules(first: Rule[] = []): Rule[] {
  const file = path.join(packageRoot(), 'tests', 'fixtures', 'farm-rules.json');
  return [...first, ...parseRules(JSON.parse(readFileSync(file, 'utf8')), file).rules];
}

/** What `node check.mjs` reports in `dir` (at a branch, when given). */
export function problemsIn(dir: string, branch?: string): string[] {
  const at = branch ? worktreeAt(dir, branch) : dir;
  try {
    execFileSync('node', ['check.mjs'], { cwd: at, encoding: 'utf8' });
    return [];
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? '').split('\n').filter((l) => /:\d+: /.test(l));
  } finally {
    if (at !== dir) execFileSync('git', ['worktree', 'remove', '--force', at], { cwd: dir });
  }
}

function worktreeAt(dir: string, branch: string): string {
  const target = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-check-'));
  execFileSync('git', ['worktree', 'add', '-q', '--detach', target, branch], { cwd: dir });
  return target;
}
