import { constants } from 'node:fs';
import { mkdir, open, readlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { statIfExists, toToolError } from './file-access.js';
import { notRegularFile, writeRegularFile } from './regular-file.js';
import { ToolError } from './tool-error.js';
import { formatBytes, parseToolInput, type ToolContext, type WorkerTool } from './worker-tool.js';
import { PathOutsideWorkspaceError, type WorkspaceJail } from '../../workspace/workspace-jail.js';

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
  await makeFolders(path.dirname(file), ctx.jail, input.file_path);
  await writeRegularFile(file, input.content, input.file_path, ctx.jail);
  const relative = ctx.jail.relative(file);
  ctx.tracker.recordWrite(relative, before !== undefined);
  const size = formatBytes(Buffer.byteLength(input.content, 'utf8'));
  return before ? `Updated ${relative} (${size})` : `Created ${relative} (${size})`;
}

/**
 * Creates the missing folders of `folder` one level at a time, each inside a parent that is open and
 * checked: `mkdir` goes through the open parent (/proc/self/fd/<fd>/<name>, as mkdirat would), so a
 * folder on the way swapped for a symbolic link after the jail resolved the path cannot have a folder
 * made outside the workspace (with `mkdir -p` the audit's race did). Without /proc, a plain mkdir.
 */
async function makeFolders(folder: string, jail: WorkspaceJail, shownPath: string): Promise<void> {
  const missing: string[] = [];
  for (let current = folder; (await statIfExists(current)) === undefined; current = path.dirname(current)) {
    if (path.dirname(current) === current) break;
    missing.unshift(current);
  }
  for (const dir of missing) {
    let parent: FileHandle;
    try {
      parent = await open(path.dirname(dir), constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (error) {
      throw toToolError(error, shownPath);
    }
    try {
      const where = await readlink(`/proc/self/fd/${parent.fd}`).catch(() => undefined);
      if (where !== undefined && !jail.contains(where)) {
        throw new PathOutsideWorkspaceError(shownPath, jail.root, ` (a folder on the way changed while it was being made, to ${where})`);
      }
      await mkdir(where === undefined ? dir : `/proc/self/fd/${parent.fd}/${path.basename(dir)}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw error instanceof PathOutsideWorkspaceError ? error : toToolError(error, shownPath);
    } finally {
      await parent.close();
    }
  }
}
