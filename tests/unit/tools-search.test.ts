import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { globToRegExp } from '../../lib/llm/tools/glob-pattern.js';
import { createGlobTool } from '../../lib/llm/tools/glob-tool.js';
import { createGrepTool } from '../../lib/llm/tools/grep-tool.js';
import { ToolError } from '../../lib/llm/tools/tool-error.js';
import type { ToolContext } from '../../lib/llm/tools/worker-tool.js';
import { FileTracker } from '../../lib/workspace/file-tracker.js';
import { WorkspaceJail } from '../../lib/workspace/workspace-jail.js';

let base: string;
let root: string;
let ctx: ToolContext;

function put(file: string, content: string | Buffer = ''): void {
  mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  writeFileSync(path.join(root, file), content);
}

beforeEach(() => {
  base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-search-')));
  root = path.join(base, 'ws');
  ctx = { jail: new WorkspaceJail(root), tracker: new FileTracker(), bashTimeoutMs: 10_000, maxOutputBytes: 10_000 };
  put('package.json', '{"name": "demo"}\n');
  put('src/index.ts', "import { health } from './routes/health.js';\nexport const port = 3000;\n");
  put('src/routes/health.ts', "export function health() {\n  return { status: 'ok' };\n}\n");
  put('src/routes/users.js', 'module.exports = function users() { return []; };\n');
  put('test/health.test.ts', "it('health answers ok', () => {});\n");
  put('node_modules/lib/index.ts', 'export const status = 1;\n');
  put('.git/config', 'status = ok\n');
  put('.env', 'PORT=3000\n');
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

const glob = (input: Record<string, unknown>) => createGlobTool().run(input, ctx);
const grep = (input: Record<string, unknown>) => createGrepTool().run(input, ctx);

describe('globToRegExp', () => {
  it.each([
    ['**/*.ts', 'a.ts', true],
    ['**/*.ts', 'src/deep/a.ts', true],
    ['*.ts', 'src/a.ts', false],
    ['src/*', 'src/a.ts', true],
    ['src/*', 'src/x/a.ts', false],
    ['src/**', 'src/x/a.ts', true],
    ['file?.txt', 'file1.txt', true],
    ['file?.txt', 'file12.txt', false],
    ['*.{js,ts}', 'a.js', true],
    ['*.{js,ts}', 'a.py', false],
    ['{src,test}/**/*.ts', 'test/unit/a.ts', true],
    ['a{b,c{d,e}}f', 'acef', true],
    ['[a-c]x', 'bx', true],
    ['[!a-c]x', 'dx', true],
    ['[!a-c]x', 'ax', false],
    ['a.b', 'axb', false],
    ['{x}', '{x}', true],
  ])('%s against %s is %s', (pattern, candidate, expected) => {
    expect(globToRegExp(pattern).test(candidate)).toBe(expected);
  });
});

describe('Glob', () => {
  it('finds files with ** and braces, sorted, skipping node_modules and .git', async () => {
    expect(await glob({ pattern: '**/*.{ts,js}' })).toBe(
      ['src/index.ts', 'src/routes/health.ts', 'src/routes/users.js', 'test/health.test.ts'].join('\n'),
    );
  });

  it('matches * within one folder and ? as one character', async () => {
    expect(await glob({ pattern: '*.json' })).toBe('package.json');
    expect(await glob({ pattern: 'src/routes/?????.*' })).toBe('src/routes/users.js');
  });

  it('searches below path and reports workspace-relative paths', async () => {
    expect(await glob({ pattern: '*.ts', path: 'src/routes' })).toBe('src/routes/health.ts');
  });

  it('says when nothing matches, and refuses a path outside', async () => {
    expect(await glob({ pattern: '**/*.py' })).toBe('No files found');
    await expect(glob({ pattern: '*', path: '..' })).rejects.toThrow('outside the workspace');
    await expect(glob({ pattern: '../*' })).rejects.toBeInstanceOf(ToolError);
  });

  it('caps a long list and says how many there were', async () => {
    for (let i = 0; i < 250; i += 1) put(`many/f${String(i).padStart(3, '0')}.txt`);
    const lines = (await glob({ pattern: 'many/*.txt' })).split('\n');
    expect(lines).toHaveLength(201);
    expect(lines[0]).toBe('many/f000.txt');
    expect(lines[200]).toBe('[showing the first 200 of 250 files; use a narrower pattern or path]');
  });
});

describe('Grep', () => {
  it('returns path:line: text for each match, skipping node_modules and .git', async () => {
    expect(await grep({ pattern: 'status' })).toBe("src/routes/health.ts:2:   return { status: 'ok' };");
  });

  it('filters by glob on names at any depth, or by path', async () => {
    expect(await grep({ pattern: 'health', glob: '*.ts' })).toBe(
      [
        "src/index.ts:1: import { health } from './routes/health.js';",
        'src/routes/health.ts:1: export function health() {',
        "test/health.test.ts:1: it('health answers ok', () => {});",
      ].join('\n'),
    );
    expect(await grep({ pattern: 'health', path: 'test' })).toBe("test/health.test.ts:1: it('health answers ok', () => {});");
    expect(await grep({ pattern: 'port', path: 'src/index.ts' })).toBe(
      ["src/index.ts:1: import { health } from './routes/health.js';", 'src/index.ts:2: export const port = 3000;'].join('\n'),
    );
  });

  it('supports regular expressions and -i', async () => {
    expect(await grep({ pattern: 'PORT=\\d+' })).toBe('.env:1: PORT=3000');
    expect(await grep({ pattern: 'EXPORT CONST', '-i': true })).toBe('src/index.ts:2: export const port = 3000;');
  });

  it('skips binary files and files behind links that point outside', async () => {
    put('image.bin', Buffer.concat([Buffer.from('status'), Buffer.from([0, 1, 2])]));
    writeFileSync(path.join(base, 'secret.txt'), 'status: secret\n');
    symlinkSync(path.join(base, 'secret.txt'), path.join(root, 'leak.txt'));
    expect(await grep({ pattern: 'status' })).toBe("src/routes/health.ts:2:   return { status: 'ok' };");
  });

  it('caps matches and says how many there were', async () => {
    put('many.txt', Array.from({ length: 300 }, (_, i) => `hit ${i}`).join('\n'));
    const lines = (await grep({ pattern: '^hit' })).split('\n');
    expect(lines).toHaveLength(201);
    expect(lines[200]).toBe('[showing 200 of 300 matching lines; use a narrower pattern, path or glob]');
  });

  it('reports an invalid regular expression and no matches', async () => {
    await expect(grep({ pattern: '(unclosed' })).rejects.toThrow('pattern is not a valid JavaScript regular expression');
    expect(await grep({ pattern: 'nothing-like-this' })).toBe('No matches found');
  });
});
