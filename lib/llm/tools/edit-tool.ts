import { z } from 'zod';
import { looksBinary, statIfExists } from './file-access.js';
import { notRegularFile, readRegularFile, writeRegularFile } from './regular-file.js';
import { ToolError } from './tool-error.js';
import { formatBytes, parseToolInput, type ToolContext, type WorkerTool } from './worker-tool.js';

// As for Read: a larger file is not loaded, twice over, into the agent's memory.
const MAX_FILE_BYTES = 20 * 1024 * 1024;

const inputSchema = z.object({
  file_path: z.string().min(1),
  old_string: z.string(),
  new_string: z.string(),
  replace_all: z.boolean().optional(),
});

/**
 * Edit: replaces exact text in an existing file. `old_string` must occur exactly once unless
 * `replace_all` is set, so an edit never lands in the wrong place; each refusal says how to fix the
 * call.
 */
export function createEditTool(): WorkerTool {
  return {
    definition: {
      name: 'Edit',
      description:
        'Replaces exact text in an existing file. old_string must match the file exactly (including whitespace and ' +
        'indentation) and occur exactly once, unless replace_all is true. Read the file first to copy the text.',
      input_schema: {
        type: 'object',
        properties: {
          file_path: { type: 'string', description: 'Path of the file, relative to the workspace or absolute inside it' },
          old_string: { type: 'string', description: 'The exact text to replace' },
          new_string: { type: 'string', description: 'The text to put in its place (must differ from old_string)' },
          replace_all: { type: 'boolean', description: 'Replace every occurrence of old_string (default false)' },
        },
        required: ['file_path', 'old_string', 'new_string'],
      },
    },
    run: (input, ctx) => edit(parseToolInput('Edit', inputSchema, input), ctx),
  };
}

async function edit(input: z.infer<typeof inputSchema>, ctx: ToolContext): Promise<string> {
  const shown = input.file_path;
  if (input.old_string === '') throw new ToolError('old_string is empty; to create a file use Write, to add text quote the lines next to it');
  if (input.old_string === input.new_string) throw new ToolError('old_string and new_string are the same; nothing would change');
  const file = ctx.jail.resolve(shown);
  const info = await statIfExists(file);
  if (!info) throw new ToolError(`file does not exist: ${shown}; use Write to create it, or Glob to find the right path`);
  if (info.isDirectory()) throw new ToolError(`${shown} is a folder, not a file`);
  if (!info.isFile()) throw notRegularFile(shown, info);
  if (info.size > MAX_FILE_BYTES) throw new ToolError(`${shown} is ${formatBytes(info.size)}, too large to Edit; change it with Bash (sed -i)`);
  const raw = await readRegularFile(file, shown, ctx.jail);
  if (looksBinary(raw)) throw new ToolError(`${shown} is a binary file; Edit changes text files only`);
  const content = raw.toString('utf8');

  const count = countOccurrences(content, input.old_string);
  if (count === 0) {
    throw new ToolError(`old_string was not found in ${shown}; Read the file and copy the exact text, including whitespace and indentation`);
  }
  if (count > 1 && input.replace_all !== true) {
    throw new ToolError(
      `old_string occurs ${count} times in ${shown}; include more surrounding lines to make it unique, or set replace_all to true`,
    );
  }
  // split/join rather than String.replace: `$&` and friends in new_string must stay literal.
  const updated = content.split(input.old_string).join(input.new_string);
  await writeRegularFile(file, updated, shown, ctx.jail);
  const relative = ctx.jail.relative(file);
  ctx.tracker.recordWrite(relative, true);
  return `Edited ${relative}: replaced ${count} occurrence${count === 1 ? '' : 's'}`;
}

/** Non-overlapping occurrences, the ones split/join replaces. */
function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count += 1;
  return count;
}
