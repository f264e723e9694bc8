import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBashTool } from '../../lib/llm/tools/bash-tool.js';
import { createEditTool } from '../../lib/llm/tools/edit-tool.js';
import { createGlobTool } from '../../lib/llm/tools/glob-tool.js';
import { createGrepTool } from '../../lib/llm/tools/grep-tool.js';
import { createReadTool } from '../../lib/llm/tools/read-tool.js';
import type { ToolContext } from '../../lib/llm/tools/worker-tool.js';
import { createWriteTool } from '../../lib/llm/tools/write-tool.js';
import { FileTracker } from '../../lib/workspace/file-tracker.js';
import { WorkspaceJail } from '../../lib/workspace/workspace-jail.js';

// What a hostile model did in the audit (ATKA05, ATKA06): each call must come back as a tool error
// the model reads, never hang the agent. The timeouts are generous; a hang before the fix misses them.
const HANG = 30_000;

let root: string;
let ctx: ToolContext;

beforeEach(() => {
  root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-hostile-')));
  ctx = { jail: new WorkspaceJail(root), tracker: new FileTracker(), bashTimeoutMs: 10_000, maxOutputBytes: 10_000 };
  writeFileSync(path.join(root, 'plain.txt'), 'status ok\n');
  execFileSync('mkfifo', [path.join(root, 'fifo1')]);
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('file tools and a named pipe (audit H5, ATKA05) [audit #78]', () => {
  it('Read of a pipe with no writer is a tool error, and later reads still work', async () => {
    // Four blocked Reads took all four threadpool threads before: do five.
    for (let i = 0; i < 5; i += 1) {
      await expect(createReadTool().run({ file_path: 'fifo1' }, ctx)).rejects.toThrow(
        'fifo1 is a named pipe (FIFO), not a regular file; file tools read and write regular files only',
      );
    }
    expect(await createReadTool().run({ file_path: 'plain.txt' }, ctx)).toBe('     1\tstatus ok');
  }, HANG);

  it('Write and Edit refuse a pipe', async () => {
    await expect(createWriteTool().run({ file_path: 'fifo1', content: 'x' }, ctx)).rejects.toThrow('fifo1 is a named pipe (FIFO)');
    await expect(createEditTool().run({ file_path: 'fifo1', old_string: 'a', new_string: 'b' }, ctx)).rejects.toThrow(
      'fifo1 is a named pipe (FIFO)',
    );
    await createWriteTool().run({ file_path: 'plain.txt', content: 'status fine\n' }, ctx);
    expect(readFileSync(path.join(root, 'plain.txt'), 'utf8')).toBe('status fine\n');
  }, HANG);

  it('Grep and Glob pass a pipe by', async () => {
    expect(await createGrepTool().run({ pattern: 'status' }, ctx)).toBe('plain.txt:1: status ok');
    expect(await createGrepTool().run({ pattern: 'status', path: 'fifo1' }, ctx)).toBe('No matches found');
    expect(await createGlobTool().run({ pattern: '*' }, ctx)).toContain('plain.txt');
  }, HANG);
});

describe('Grep and a pattern that backtracks (audit H4, ATKA06) [audit #79]', () => {
  it('gives up on ^(a+)+$ over 40 a and a ! with a tool error, and the agent goes on', async () => {
    writeFileSync(path.join(root, 'evil.txt'), `${'a'.repeat(40)}!\n`);
    await expect(createGrepTool().run({ pattern: '^(a+)+$', path: 'evil.txt' }, ctx)).rejects.toThrow(/^pattern too slow: /);
    expect(await createGrepTool().run({ pattern: 'a+!$' }, ctx)).toBe(`evil.txt:1: ${'a'.repeat(40)}!`);
  }, HANG);

  it('stops a slow search when the task is aborted', async () => {
    writeFileSync(path.join(root, 'evil.txt'), `${'a'.repeat(40)}!\n`);
    const controller = new AbortController();
    const search = createGrepTool().run({ pattern: '^(a+)+$' }, { ...ctx, signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await expect(search).rejects.toThrow('the search was aborted');
  }, HANG);
});

describe('Bash and endless output (audit ATKA03) [audit #73]', () => {
  it('drains yes | head -c to its end and gives the model only the cut, with the count', async () => {
    // The audit's command with 200 MB rather than 2 GB (which took 20 s here): what the tool holds is
    // its head and tail whatever the size, and 200 MB is already 20,000 times its limit. The network
    // replay in tests/security/hostile-model.test.ts sends the 2 GB command itself.
    const output = await createBashTool().run({ command: `yes ${'A'.repeat(55)} | head -c 200000000` }, { ...ctx, bashTimeoutMs: 120_000 });
    expect(output).toMatch(/\[output truncated: \d+ of 200000000 bytes left out; redirect to a file and use Grep or Read to see more\]/);
    expect(Buffer.byteLength(output)).toBeLessThan(ctx.maxOutputBytes + 1_000);
  }, 120_000);
});
