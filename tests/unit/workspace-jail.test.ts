import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTools } from '../../lib/llm/tools/create-tools.js';
import { ToolError } from '../../lib/llm/tools/tool-error.js';
import type { ToolContext, WorkerTool } from '../../lib/llm/tools/worker-tool.js';
import { FileTracker } from '../../lib/workspace/file-tracker.js';
import { hostBashWarning, PathOutsideWorkspaceError, WorkspaceJail } from '../../lib/workspace/workspace-jail.js';

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

/**
 * Every file tool a worker has, against every way out of the workspace: `..`, an absolute path, and
 * symbolic links to a file and to a folder outside. Each call must be refused as a tool error, and
 * the file outside must stay unread and unchanged (no secret in the answer, no new file).
 */
describe('the file tools stay inside the workspace', () => {
  const SECRET = 'secret';
  let ctx: ToolContext;
  let tools: Record<string, WorkerTool>;

  beforeEach(() => {
    ctx = { jail: new WorkspaceJail(root), tracker: new FileTracker(), bashTimeoutMs: 10_000, maxOutputBytes: 10_000 };
    tools = Object.fromEntries(createTools(['Read', 'Write', 'Edit', 'Glob', 'Grep']).map((tool) => [tool.definition.name, tool]));
    writeFileSync(path.join(root, 'inside.txt'), 'inside\n');
    symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'file-link'));
    symlinkSync(outside, path.join(root, 'dir-link'));
  });

  /** The ways out, each as the path a model would give. */
  const escapes = (): Record<string, { file: string; folder: string }> => ({
    '..': { file: '../outside/secret.txt', folder: '../outside' },
    'an absolute path': { file: path.join(outside, 'secret.txt'), folder: outside },
    'a symlink to a file outside': { file: 'file-link', folder: 'file-link' },
    'a symlink to a folder outside': { file: 'dir-link/secret.txt', folder: 'dir-link' },
  });

  const calls: Record<string, (way: { file: string; folder: string }) => unknown> = {
    Read: (way) => ({ file_path: way.file }),
    Write: (way) => ({ file_path: way.file, content: 'overwritten' }),
    Edit: (way) => ({ file_path: way.file, old_string: SECRET, new_string: 'edited' }),
    Glob: (way) => ({ pattern: '*', path: way.folder }),
    Grep: (way) => ({ pattern: SECRET, path: way.file }),
  };

  async function refusedWith(tool: WorkerTool, input: unknown): Promise<string> {
    try {
      const answer = await tool.run(input, ctx);
      return `accepted: ${answer}`;
    } catch (error) {
      if (error instanceof PathOutsideWorkspaceError || error instanceof ToolError) return error.message;
      throw error;
    }
  }

  const ways = ['..', 'an absolute path', 'a symlink to a file outside', 'a symlink to a folder outside'];
  for (const toolName of Object.keys(calls)) {
    for (const way of ways) {
      it(`${toolName} refuses ${way}`, async () => {
        const message = await refusedWith(tools[toolName]!, calls[toolName]!(escapes()[way]!));
        expect(message).toMatch(/outside the workspace/);
        expect(message).not.toContain('accepted');
        expect(readFileSync(path.join(outside, 'secret.txt'), 'utf8')).toBe(SECRET);
        expect(existsSync(path.join(outside, 'secret.txt.tmp'))).toBe(false);
        expect(ctx.tracker.created).toEqual([]);
        expect(ctx.tracker.modified).toEqual([]);
      });
    }
  }

  it('Glob and Grep over the whole workspace do not follow links to the outside', async () => {
    const listed = await tools['Glob']!.run({ pattern: '**/*' }, ctx);
    expect(listed.split('\n')).not.toContain('dir-link/secret.txt');
    const found = await tools['Grep']!.run({ pattern: SECRET }, ctx);
    expect(found).not.toContain(SECRET + '\n');
    expect(found).not.toMatch(/secret\.txt:1:/);
    expect(found).not.toMatch(/file-link:1:/);
  });

  it('Glob refuses a pattern that climbs out or names an absolute folder outside', async () => {
    expect(await refusedWith(tools['Glob']!, { pattern: '../outside/*' })).toMatch(/contains '\.\.'/);
    expect(await refusedWith(tools['Glob']!, { pattern: path.join(outside, '*') })).toMatch(/absolute path outside the search folder/);
  });
});

describe('the warning about Bash outside containers', () => {
  const domains = [
    { name: 'frontend', workers: [{ tools: ['Read', 'Write', 'Bash'] }] },
    { name: 'backend', workers: [{ tools: ['Read'] }, { tools: ['Bash'] }] },
    { name: 'docs', workers: [{ tools: ['Read', 'Write', 'Edit', 'Glob', 'Grep'] }] },
  ];

  it('names the domains whose workers have Bash, and how to isolate them, when they run as host processes', () => {
    const warning = hostBashWarning(domains, 'process');
    expect(warning).toContain('(domains: backend, frontend)');
    expect(warning).toContain('DAN_SPAWNER=docker');
    expect(warning).not.toContain('docs');
    expect(warning).not.toContain('\n');
  });

  it('says nothing when domains run in containers, or when no worker has Bash', () => {
    expect(hostBashWarning(domains, 'docker')).toBeUndefined();
    expect(hostBashWarning([domains[2]!], 'process')).toBeUndefined();
  });
});
