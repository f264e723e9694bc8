import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { taskWorkspace } from '../../lib/workspace/task-workspace.js';

let base: string;
let root: string;

beforeEach(() => {
  base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-task-ws-')));
  root = path.join(base, 'ws');
  mkdirSync(path.join(root, 'project'), { recursive: true });
  mkdirSync(path.join(base, 'outside'), { recursive: true });
  mkdirSync(path.join(base, 'allowed', 'repo'), { recursive: true });
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const refusal = (context: Record<string, unknown>, roots: string[] = []): string => {
  try {
    taskWorkspace(root, { context, metadata: {} }, roots);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the workspace was accepted');
};

describe("a task's workspace (context.workspace)", () => {
  it('is the root, or a folder below it', () => {
    expect(taskWorkspace(root, { context: {}, metadata: {} }).root).toBe(root);
    expect(taskWorkspace(root, { context: { workspace: 'project' }, metadata: {} }).root).toBe(path.join(root, 'project'));
    expect(taskWorkspace(root, { context: { workspace: path.join(root, 'project') }, metadata: {} }).root).toBe(path.join(root, 'project'));
  });

  it('refuses an escape by ..', () => {
    expect(refusal({ workspace: '../outside' })).toBe(`path '../outside' resolves outside the workspace ${root}; use a path inside it`);
    expect(refusal({ workspace: 'project/../../outside' })).toMatch(/resolves outside the workspace/);
    expect(refusal({ workspace: path.join(base, 'outside') })).toMatch(/resolves outside the workspace/);
  });

  it('refuses an escape by a symbolic link inside the root', () => {
    symlinkSync(path.join(base, 'outside'), path.join(root, 'linkdir'));
    expect(refusal({ workspace: 'linkdir' })).toMatch(/resolves outside the workspace .*through a symbolic link/);
  });

  it('accepts a folder under a root DAN_WORKSPACE_ROOTS allows, and nothing outside it', () => {
    const allowed = path.join(base, 'allowed');
    expect(taskWorkspace(root, { context: { workspace: path.join(allowed, 'repo') }, metadata: {} }, [allowed]).root).toBe(path.join(allowed, 'repo'));
    expect(refusal({ workspace: path.join(base, 'outside') }, [allowed])).toBe(
      `path '${path.join(base, 'outside')}' resolves outside the workspace ${root} or the other folders DAN_WORKSPACE_ROOTS allows (${allowed}); use a path inside it`);
    symlinkSync(path.join(base, 'outside'), path.join(allowed, 'escape'));
    expect(refusal({ workspace: path.join(allowed, 'escape') }, [allowed])).toMatch(/resolves outside the workspace/);
  });

  it('refuses each context.workspace the audit sent, with the reason the task fails with [audit #11]', () => {
    symlinkSync(path.join(base, 'outside'), path.join(root, 'linkdir'));
    expect(refusal({ workspace: '../outside' })).toBe(`path '../outside' resolves outside the workspace ${root}; use a path inside it`);
    expect(refusal({ workspace: '/etc' })).toBe(`path '/etc' resolves outside the workspace ${root}; use a path inside it`);
    expect(refusal({ workspace: 'linkdir' })).toBe(
      `path 'linkdir' resolves outside the workspace ${root} (through a symbolic link, to ${path.join(base, 'outside')}); use a path inside it`);
    expect(refusal({ workspace: 5 })).toBe('payload.context.workspace must be a folder path inside the workspace');
  });

  it('does not create an allowed root that does not exist', () => {
    const missing = path.join(base, 'missing');
    expect(refusal({ workspace: path.join(missing, 'x') }, [missing])).toMatch(/resolves outside the workspace/);
    expect(existsSync(missing)).toBe(false);
  });
});

describe("a client's workspace (metadata.client_id)", () => {
  const of = (client: string, context: Record<string, unknown> = {}, roots: string[] = []) => taskWorkspace(root, { context, metadata: { client_id: client } }, roots).root;
  const refused = (client: unknown, context: Record<string, unknown>, roots: string[] = []): string => {
    try {
      taskWorkspace(root, { context, metadata: { client_id: client } }, roots);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('the workspace was accepted');
  };

  it('is DAN_WORKSPACE for default, clients/<client> below it for any other, and context.workspace is taken inside it', () => {
    expect(of('default')).toBe(root);
    expect(of('Acme')).toBe(path.join(root, 'clients', 'acme'));
    expect(of('acme', { workspace: 'project' })).toBe(path.join(root, 'clients', 'acme', 'project'));
    expect(of('beta', { workspace: 'project' })).toBe(path.join(root, 'clients', 'beta', 'project'));
  });

  it("refuses a path to another client's folder, the root, or a folder DAN_WORKSPACE_ROOTS allows", () => {
    const clientRoot = path.join(root, 'clients', 'beta');
    expect(refused('beta', { workspace: '../acme' })).toBe(`path '../acme' resolves outside the workspace ${clientRoot}; use a path inside it`);
    expect(refused('beta', { workspace: path.join(root, 'project') })).toMatch(/resolves outside the workspace/);
    const allowed = path.join(base, 'allowed');
    expect(refused('beta', { workspace: path.join(allowed, 'repo') }, [allowed])).toMatch(/resolves outside the workspace/);
  });

  it('refuses a client id that is not a safe folder name, naming the rule', () => {
    expect(refused('../acme', {})).toMatch(/client_id must be 1 to 64 letters/);
    expect(refused('a/b', {})).toMatch(/client_id must be 1 to 64 letters/);
  });
});
