import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTools, TOOL_NAMES } from '../../lib/llm/tools/create-tools.js';
import { createEditTool } from '../../lib/llm/tools/edit-tool.js';
import { createReadTool } from '../../lib/llm/tools/read-tool.js';
import { ToolError } from '../../lib/llm/tools/tool-error.js';
import type { ToolContext, WorkerTool } from '../../lib/llm/tools/worker-tool.js';
import { createWriteTool } from '../../lib/llm/tools/write-tool.js';
import { FileTracker } from '../../lib/workspace/file-tracker.js';
import { PathOutsideWorkspaceError, WorkspaceJail } from '../../lib/workspace/workspace-jail.js';

let base: string;
let root: string;
let ctx: ToolContext;

beforeEach(() => {
  base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-tools-')));
  root = path.join(base, 'ws');
  ctx = { jail: new WorkspaceJail(root), tracker: new FileTracker(), bashTimeoutMs: 10_000, maxOutputBytes: 10_000 };
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

async function toolError(tool: WorkerTool, input: unknown): Promise<string> {
  try {
    await tool.run(input, ctx);
  } catch (error) {
    if (error instanceof ToolError || error instanceof PathOutsideWorkspaceError) return error.message;
    throw error;
  }
  throw new Error('the tool call succeeded');
}

describe('Write', () => {
  it('creates the file and its folders, and records it as created', async () => {
    const result = await createWriteTool().run({ file_path: 'src/routes/health.ts', content: 'export {};\n' }, ctx);
    expect(readFileSync(path.join(root, 'src/routes/health.ts'), 'utf8')).toBe('export {};\n');
    expect(result).toContain('Created src/routes/health.ts');
    expect(ctx.tracker.created).toEqual(['src/routes/health.ts']);
  });

  it('records a file that was already there as modified', async () => {
    mkdirSync(root, { recursive: true });
    writeFileSync(path.join(root, 'README.md'), 'old');
    await createWriteTool().run({ file_path: path.join(root, 'README.md'), content: 'new' }, ctx);
    expect(readFileSync(path.join(root, 'README.md'), 'utf8')).toBe('new');
    expect(ctx.tracker.modified).toEqual(['README.md']);
    expect(ctx.tracker.created).toEqual([]);
  });

  it('refuses paths outside the workspace and leaves no file there', async () => {
    const message = await toolError(createWriteTool(), { file_path: '../evil.txt', content: 'x' });
    expect(message).toContain("path '../evil.txt' resolves outside the workspace");
    expect(existsSync(path.join(base, 'evil.txt'))).toBe(false);
  });

  it('refuses writing through a symlink that points outside', async () => {
    const outside = path.join(base, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, path.join(root, 'out'));
    const message = await toolError(createWriteTool(), { file_path: 'out/x.txt', content: 'x' });
    expect(message).toContain('outside the workspace');
    expect(existsSync(path.join(outside, 'x.txt'))).toBe(false);
  });

  it('names the missing field when the input is wrong', async () => {
    const message = await toolError(createWriteTool(), { file_path: 'a.txt' });
    expect(message).toMatch(/^invalid input for Write: content: /);
  });
});

describe('Read', () => {
  it('returns numbered lines', async () => {
    writeFileSync(path.join(root, 'a.txt'), 'one\ntwo\nthree\n');
    const result = await createReadTool().run({ file_path: 'a.txt' }, ctx);
    expect(result).toBe('     1\tone\n     2\ttwo\n     3\tthree');
  });

  it('records the file as read, and not once it is written', async () => {
    writeFileSync(path.join(root, 'read-me.txt'), 'x\n');
    writeFileSync(path.join(root, 'then-edit.txt'), 'x\n');
    await createReadTool().run({ file_path: 'read-me.txt' }, ctx);
    await createReadTool().run({ file_path: path.join(root, 'then-edit.txt') }, ctx);
    ctx.tracker.recordWrite('then-edit.txt', true);
    expect(ctx.tracker.read).toContain('read-me.txt');
    expect(ctx.tracker.read).not.toContain('then-edit.txt');
  });

  it('reads a window with offset and limit and says how to read on', async () => {
    writeFileSync(path.join(root, 'a.txt'), Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n'));
    const result = await createReadTool().run({ file_path: 'a.txt', offset: 3, limit: 2 }, ctx);
    expect(result).toContain('     3\tline 3\n     4\tline 4');
    expect(result).not.toContain('line 5');
    expect(result).toContain('has 10 lines; showed lines 3-4. Call Read with offset=5');
  });

  it('truncates a long file at maxOutputBytes and says so', async () => {
    writeFileSync(path.join(root, 'big.txt'), Array.from({ length: 5000 }, (_, i) => `row ${i + 1} ${'x'.repeat(40)}`).join('\n'));
    const result = await createReadTool().run({ file_path: 'big.txt' }, { ...ctx, maxOutputBytes: 2000 });
    expect(Buffer.byteLength(result)).toBeLessThan(2300);
    expect(result).toMatch(/big\.txt has 5000 lines; showed lines 1-\d+\. Call Read with offset=\d+ to read on\./);
  });

  it('reports a missing file, a folder and a binary file as tool errors', async () => {
    mkdirSync(path.join(root, 'dir'));
    writeFileSync(path.join(root, 'bin.dat'), Buffer.from([1, 2, 0, 3]));
    expect(await toolError(createReadTool(), { file_path: 'nope.txt' })).toContain('file does not exist: nope.txt');
    expect(await toolError(createReadTool(), { file_path: 'dir' })).toContain('dir is a folder');
    expect(await toolError(createReadTool(), { file_path: 'bin.dat' })).toContain('binary file');
  });
});

describe('Edit', () => {
  beforeEach(() => writeFileSync(path.join(root, 'app.js'), 'const a = 1;\nconst b = 1;\nconsole.log(a);\n'));

  it('replaces a unique string and records the file as modified', async () => {
    const result = await createEditTool().run({ file_path: 'app.js', old_string: 'const a = 1;', new_string: 'const a = 2;' }, ctx);
    expect(readFileSync(path.join(root, 'app.js'), 'utf8')).toBe('const a = 2;\nconst b = 1;\nconsole.log(a);\n');
    expect(result).toBe('Edited app.js: replaced 1 occurrence');
    expect(ctx.tracker.modified).toEqual(['app.js']);
  });

  it('refuses an ambiguous old_string and leaves the file unchanged', async () => {
    const message = await toolError(createEditTool(), { file_path: 'app.js', old_string: '= 1;', new_string: '= 3;' });
    expect(message).toBe('old_string occurs 2 times in app.js; include more surrounding lines to make it unique, or set replace_all to true');
    expect(readFileSync(path.join(root, 'app.js'), 'utf8')).toContain('const a = 1;');
  });

  it('replaces every occurrence with replace_all, keeping $ patterns literal', async () => {
    await createEditTool().run({ file_path: 'app.js', old_string: '= 1;', new_string: "= '$&';", replace_all: true }, ctx);
    expect(readFileSync(path.join(root, 'app.js'), 'utf8')).toBe("const a = '$&';\nconst b = '$&';\nconsole.log(a);\n");
  });

  it('explains a missing old_string, a missing file and a no-op edit', async () => {
    expect(await toolError(createEditTool(), { file_path: 'app.js', old_string: 'let z', new_string: 'let y' })).toContain(
      'old_string was not found in app.js',
    );
    expect(await toolError(createEditTool(), { file_path: 'gone.js', old_string: 'a', new_string: 'b' })).toContain(
      'file does not exist: gone.js; use Write to create it',
    );
    expect(await toolError(createEditTool(), { file_path: 'app.js', old_string: 'a', new_string: 'a' })).toContain('are the same');
  });

  it('keeps a file that Write created and Edit changed in the created list', async () => {
    await createWriteTool().run({ file_path: 'new.js', content: 'let x = 1;\n' }, ctx);
    await createEditTool().run({ file_path: 'new.js', old_string: '1', new_string: '2' }, ctx);
    expect(ctx.tracker.created).toEqual(['new.js']);
    expect(ctx.tracker.modified).toEqual([]);
  });
});

describe('createTools', () => {
  it('builds the named tools in order with their Claude Code names', () => {
    expect(createTools(['Read', 'Bash', 'Read']).map((tool) => tool.definition.name)).toEqual(['Read', 'Bash']);
    expect(createTools([...TOOL_NAMES]).map((tool) => tool.definition.name)).toEqual(['Read', 'Write', 'Edit', 'Glob', 'Grep', 'Bash']);
  });

  it('names the known tools when a name is unknown', () => {
    expect(() => createTools(['Read', 'WebSearch'])).toThrow("unknown tool 'WebSearch'; known tools: Read, Write, Edit, Glob, Grep, Bash");
  });
});
