import { z } from 'zod';
import { looksBinary, statIfExists } from './file-access.js';
import { notRegularFile, readRegularFile } from './regular-file.js';
import { ToolError } from './tool-error.js';
import { cutToBytes, formatBytes, parseToolInput, type ToolContext, type WorkerTool } from './worker-tool.js';

const inputSchema = z.object({
  file_path: z.string().min(1),
  offset: z.number().int().positive().optional(),
  limit: z.number().int().positive().optional(),
});

// Claude Code's defaults: 2000 lines per call, 2000 characters per line.
const DEFAULT_LINE_LIMIT = 2000;
const MAX_LINE_CHARS = 2000;
// Larger files are not loaded at all; the model can page through them with Bash (sed -n, head).
const MAX_FILE_BYTES = 20 * 1024 * 1024;

/**
 * Read: a text file with numbered lines (`cat -n` style), so the model can quote exact text for
 * Edit. Long files are cut at `limit` lines or `maxOutputBytes`, and the output says how to read on.
 */
export function createReadTool(): WorkerTool {
  return {
    definition: {
      name: 'Read',
      description:
        'Reads a text file from the workspace and returns it with line numbers. Use offset (1-based line number) and ' +
        `limit (number of lines) to read part of a long file; by default up to ${DEFAULT_LINE_LIMIT} lines are shown.`,
      input_schema: {
        type: 'object',
        properties: {
          file_path: { type: 'string', description: 'Path of the file, relative to the workspace or absolute inside it' },
          offset: { type: 'integer', description: 'Line number to start reading from (1-based)' },
          limit: { type: 'integer', description: 'Number of lines to read' },
        },
        required: ['file_path'],
      },
    },
    run: (input, ctx) => read(parseToolInput('Read', inputSchema, input), ctx),
  };
}

async function read(input: z.infer<typeof inputSchema>, ctx: ToolContext): Promise<string> {
  const file = ctx.jail.resolve(input.file_path);
  const info = await statIfExists(file);
  if (!info) throw new ToolError(`file does not exist: ${input.file_path}; use Glob to find the right path`);
  if (info.isDirectory()) throw new ToolError(`${input.file_path} is a folder, not a file; use Glob to list its files`);
  if (!info.isFile()) throw notRegularFile(input.file_path, info);
  if (info.size > MAX_FILE_BYTES) {
    throw new ToolError(`${input.file_path} is ${formatBytes(info.size)}, too large to Read; use Grep, or Bash with sed -n or head`);
  }
  const content = await readRegularFile(file, input.file_path, ctx.jail);
  if (looksBinary(content)) throw new ToolError(`${input.file_path} is a binary file (${formatBytes(content.length)}); Read shows text files only`);
  ctx.tracker.recordRead(ctx.jail.relative(file));
  if (content.length === 0) return `(${input.file_path} is empty)`;

  const lines = content.toString('utf8').split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const start = (input.offset ?? 1) - 1;
  if (start >= lines.length) {
    throw new ToolError(`offset ${input.offset ?? 1} is past the end of ${input.file_path}, which has ${lines.length} lines`);
  }
  const end = Math.min(lines.length, start + (input.limit ?? DEFAULT_LINE_LIMIT));
  const numbered: string[] = [];
  let bytes = 0;
  let shownEnd = start;
  for (let index = start; index < end; index += 1) {
    const text = lines[index] ?? '';
    const shown = text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}... [line cut at ${MAX_LINE_CHARS} characters]` : text;
    const line = `${String(index + 1).padStart(6)}\t${shown}`;
    bytes += Buffer.byteLength(line, 'utf8') + 1;
    if (bytes > ctx.maxOutputBytes && numbered.length > 0) break;
    numbered.push(index === start ? cutToBytes(line, ctx.maxOutputBytes) : line);
    shownEnd = index + 1;
  }
  let output = numbered.join('\n');
  if (shownEnd < lines.length) {
    output += `\n[${input.file_path} has ${lines.length} lines; showed lines ${start + 1}-${shownEnd}. Call Read with offset=${shownEnd + 1} to read on.]`;
  }
  return output;
}
