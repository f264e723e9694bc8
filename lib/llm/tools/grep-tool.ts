import path from 'node:path';
import { z } from 'zod';
import { BoundedRegex } from './bounded-regex.js';
import { looksBinary, statIfExists } from './file-access.js';
import { globToRegExp } from './glob-pattern.js';
import { readRegularFile } from './regular-file.js';
import { ToolError, throwIfAborted } from './tool-error.js';
import { walkFiles } from './walk-files.js';
import { parseToolInput, type ToolContext, type WorkerTool } from './worker-tool.js';

const inputSchema = z.object({
  pattern: z.string().min(1),
  path: z.string().optional(),
  glob: z.string().optional(),
  '-i': z.boolean().optional(),
});

const MAX_MATCHES = 200;
const MAX_LINE_CHARS = 300;
// Generated bundles and data dumps; searching them costs time and says little.
const MAX_FILE_BYTES = 5 * 1024 * 1024;
const MAX_WALK_ENTRIES = 100_000;
// 5 s for one file of at most 5 MB: a sane pattern takes milliseconds; past that it is backtracking.
const PATTERN_TIME_LIMIT_MS = 5000;

/**
 * Grep: searches file contents with a JavaScript regular expression, one `path:line: text` per
 * matching line. Binary files, files over 5 MB, node_modules and .git are skipped; matches are capped.
 * The pattern runs in a worker thread with a time limit (see `BoundedRegex`).
 */
export function createGrepTool(): WorkerTool {
  return {
    definition: {
      name: 'Grep',
      description:
        'Searches file contents for a JavaScript regular expression and returns matching lines as "path:line: text". ' +
        'Optionally limit to files matching glob (e.g. "*.ts", "src/**/*.py"). Skips binary files, node_modules and .git. ' +
        `Returns at most ${MAX_MATCHES} lines.`,
      input_schema: {
        type: 'object',
        properties: {
          pattern: { type: 'string', description: 'JavaScript regular expression' },
          path: { type: 'string', description: 'File or folder to search (default: the workspace root)' },
          glob: { type: 'string', description: 'Only search files matching this glob; without a "/" it matches file names at any depth' },
          '-i': { type: 'boolean', description: 'Case-insensitive search' },
        },
        required: ['pattern'],
      },
    },
    run: (input, ctx) => grep(parseToolInput('Grep', inputSchema, input), ctx),
  };
}

async function grep(input: z.infer<typeof inputSchema>, ctx: ToolContext): Promise<string> {
  const flags = input['-i'] === true ? 'i' : '';
  try {
    new RegExp(input.pattern, flags);
  } catch (error) {
    throw new ToolError(`pattern is not a valid JavaScript regular expression: ${(error as Error).message}`);
  }
  const target = ctx.jail.resolve(input.path ?? '.');
  const info = await statIfExists(target);
  if (!info) throw new ToolError(`path does not exist: ${input.path ?? '.'}`);

  const notes: string[] = [];
  let files: string[];
  let folder = target;
  if (info.isDirectory()) {
    const walk = await walkFiles(target, { signal: ctx.signal, maxEntries: MAX_WALK_ENTRIES });
    files = walk.files;
    if (walk.capped) notes.push(`[stopped after looking at ${MAX_WALK_ENTRIES} entries; give a narrower path]`);
  } else {
    files = [target];
    folder = path.dirname(target);
  }
  if (input.glob !== undefined) {
    const matcher = globToRegExp(input.glob);
    const byName = !input.glob.includes('/');
    files = files.filter((file) => matcher.test(byName ? path.basename(file) : path.relative(folder, file).split(path.sep).join('/')));
  }

  const lines: string[] = [];
  let bytes = 0;
  let total = 0;
  let full = false;
  const regex = new BoundedRegex(input.pattern, flags, { timeLimitMs: PATTERN_TIME_LIMIT_MS, signal: ctx.signal });
  try {
    for (const file of files) {
      throwIfAborted(ctx.signal, 'the search');
      const content = await readSearchable(file, ctx);
      if (content === undefined) continue;
      const found = await regex.match(content, MAX_MATCHES);
      total += found.count;
      if (found.count > found.first.length) full = true;
      if (found.first.length === 0) continue;
      const shown = ctx.jail.relative(file);
      const fileLines = content.split(/\r?\n/);
      for (const index of found.first) {
        const text = fileLines[index] ?? '';
        const cut = text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}...` : text;
        const line = `${shown}:${index + 1}: ${cut}`;
        bytes += Buffer.byteLength(line, 'utf8') + 1;
        if (lines.length >= MAX_MATCHES || bytes > ctx.maxOutputBytes) {
          full = true;
          break;
        }
        lines.push(line);
      }
    }
  } finally {
    await regex.close();
  }
  if (full) notes.push(`[showing ${lines.length} of ${total} matching lines; use a narrower pattern, path or glob]`);
  if (lines.length === 0) return ['No matches found', ...notes].join('\n');
  return [...lines, ...notes].join('\n');
}

/**
 * The file's text, or undefined when it is binary, too large or unreadable, or a symbolic link
 * that points out of the workspace (its content must not leak through a search).
 */
async function readSearchable(file: string, ctx: ToolContext): Promise<string | undefined> {
  try {
    const real = ctx.jail.resolve(file);
    const info = await statIfExists(real);
    if (!info?.isFile() || info.size > MAX_FILE_BYTES) return undefined;
    const content = await readRegularFile(real, file, ctx.jail);
    return looksBinary(content) ? undefined : content.toString('utf8');
  } catch {
    return undefined;
  }
}
