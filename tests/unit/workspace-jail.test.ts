import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PathOutsideWorkspaceError, WorkspaceJail } from '../../lib/workspace/workspace-jail.js';

let base: string;
let root: string;
let outside: string;

beforeEach(() => {
  base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-jail-')));
  root = path.join(base, 'ws');
  outside = path.join(base, 'outside');
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'secret.txt'), 'secret');
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

function refusal(jail: WorkspaceJail, userPath: string): PathOutsideWorkspaceError {
  try {
    jail.resolve(userPath);
  } catch (error) {
    if (error instanceof PathOutsideWorkspaceError) return error;
    throw error;
  }
  throw new Error(`'${userPath}' was accepted`);
}

describe('WorkspaceJail', () => {
  it('creates a missing root folder', () => {
    const jail = new WorkspaceJail(path.join(root, 'deep', 'er'));
    expect(jail.root).toBe(path.join(root, 'deep', 'er'));
    expect(jail.resolve('.')).toBe(jail.root);
  });

  it('refuses a .. escape with a message the model can act on', () => {
    const jail = new WorkspaceJail(root);
    const error = refusal(jail, '../x');
    expect(error.code).toBe('path_outside_workspace');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(`path '../x' resolves outside the workspace ${root}; use a path inside it`);
    expect(refusal(jail, 'src/../../outside/secret.txt').code).toBe('path_outside_workspace');
  });

  it('allows .. that stays inside, and names that merely start with dots', () => {
    const jail = new WorkspaceJail(root);
    expect(jail.resolve('src/../README.md')).toBe(path.join(root, 'README.md'));
    expect(jail.resolve('..hidden')).toBe(path.join(root, '..hidden'));
  });

  it('refuses absolute paths outside and accepts absolute paths inside', () => {
    const jail = new WorkspaceJail(root);
    expect(refusal(jail, '/etc/passwd').message).toContain(`path '/etc/passwd' resolves outside the workspace ${root}`);
    expect(refusal(jail, `${root}-other/file`).code).toBe('path_outside_workspace');
    expect(jail.resolve(path.join(root, 'src', 'a.ts'))).toBe(path.join(root, 'src', 'a.ts'));
  });

  it('refuses a symlink that points outside, directly or as a folder on the way', () => {
    const jail = new WorkspaceJail(root);
    symlinkSync(outside, path.join(root, 'escape'));
    symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'secret-link'));
    expect(refusal(jail, 'escape/secret.txt').message).toContain('through a symbolic link');
    expect(refusal(jail, 'escape/new/file.txt').code).toBe('path_outside_workspace');
    expect(refusal(jail, 'secret-link').code).toBe('path_outside_workspace');
  });

  it('refuses a dangling symlink whose target would be created outside', () => {
    const jail = new WorkspaceJail(root);
    symlinkSync(path.join(outside, 'not-yet.txt'), path.join(root, 'dangling'));
    expect(refusal(jail, 'dangling').code).toBe('path_outside_workspace');
  });

  it('allows a symlink that stays inside and resolves it', () => {
    const jail = new WorkspaceJail(root);
    mkdirSync(path.join(root, 'real'));
    writeFileSync(path.join(root, 'real', 'a.txt'), 'a');
    symlinkSync(path.join(root, 'real'), path.join(root, 'alias'));
    expect(jail.resolve('alias/a.txt')).toBe(path.join(root, 'real', 'a.txt'));
  });

  it('allows a new file in new subfolders', () => {
    const jail = new WorkspaceJail(root);
    expect(jail.resolve('new/sub/folder/file.ts')).toBe(path.join(root, 'new', 'sub', 'folder', 'file.ts'));
  });

  it('accepts paths spelt with the root as given when the root itself is a symlink', () => {
    const target = path.join(base, 'target');
    mkdirSync(target);
    const linked = path.join(base, 'linked-root');
    symlinkSync(target, linked);
    const jail = new WorkspaceJail(linked);
    expect(jail.root).toBe(target);
    expect(jail.resolve(path.join(linked, 'a.txt'))).toBe(path.join(target, 'a.txt'));
    expect(jail.relative(path.join(linked, 'a.txt'))).toBe('a.txt');
  });

  it('reports workspace-relative paths', () => {
    const jail = new WorkspaceJail(root);
    expect(jail.relative(path.join(root, 'src', 'a.ts'))).toBe('src/a.ts');
    expect(jail.relative(root)).toBe('.');
  });
});
