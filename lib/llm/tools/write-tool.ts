import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { statIfExists, toToolError } from './file-access.js';
import { notRegularFile, writeRegularFile } from './regular-file.js';
import { ToolError } from './tool-error.js';
import { formatBytes, parseToolInput, type ToolContext, type WorkerTool } from './worker-tool.js';

const inputSchema = z.object({
  file_path: z.string().min(1),
  content: z.string(),
});

/**
 * Write: creates or replaces a whole file, creating its folders. The file is recorded in the tracker
 * as created or modified depending on whether it was there before.
 */
export function createWriteTool(): WorkerTool {
  return {
    definition: {
      name: 'Write',
      description:
        'Writes a file in the workspace, replacing it if it exists and creating missing folders. ' +
        'Prefer Edit to change part of an existing file.',
      input_schema: {
        type: 'object',
        properties: {
          file_path: { type: 'string', description: 'Path of the file, relative to the workspace or absolute inside it' },
          content: { type: 'string', description: 'The full content of the file' },
        },
        required: ['file_path', 'content'],
      },
    },
    run: (input, ctx) => write(parseToolInput('Write', inputSchema, input), ctx),
  };
}

async function write(input: z.infer<typeof inputSchema>, ctx: ToolContext): Promise<string> {
  const file = ctx.jail.resolve(input.file_path);
  const before = await statIfExists(file);
  if (before?.isDirectory()) throw new ToolError(`${input.file_path} is a folder; give the path of a file inside it`);
  if (before !== undefined && !before.isFile()) throw notRegularFile(input.file_path, before);
  try {
    await mkdir(path.dirname(file), { recursive: true });
  } catch (error) {
    throw toToolError(error, input.file_path);
  }
  await writeRegularFile(file, input.content, input.file_path, ctx.jail);
  const relative = ctx.jail.relative(file);
  ctx.tracker.recordWrite(relative, before !== undefined);
  const size = formatBytes(Buffer.byteLength(input.content, 'utf8'));
  return before ? `Updated ${relative} (${size})` : `Created ${relative} (${size})`;
}
