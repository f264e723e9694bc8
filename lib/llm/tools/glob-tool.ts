import path from 'node:path';
import { z } from 'zod';
import { statIfExists } from './file-access.js';
import { globToRegExp } from './glob-pattern.js';
import { ToolError } from './tool-error.js';
import { walkFiles } from './walk-files.js';
import { parseToolInput, type ToolContext, type WorkerTool } from './worker-tool.js';

const inputSchema = z.object({
  pattern: z.string().min(1),
  path: z.string().optional(),
});

// Enough for the model to see the shape of a project; more is noise it pays tokens for.
const MAX_RESULTS = 200;
const MAX_WALK_ENTRIES = 100_000;

/**
 * Glob: finds files by name pattern, for the model to discover a project before reading it. The
 * matching is our own (see `globToRegExp`); node_modules and .git are skipped; results are sorted,
 * workspace-relative and capped.
 */
export function createGlobTool(): WorkerTool {
  return {
    definition: {
      name: 'Glob',
      description:
        'Finds files whose path matches a glob pattern, such as "**/*.ts" or "src/{routes,models}/*.js". ' +
        '** matches any number of folders, * any characters within a name, ? one character. Skips node_modules and .git. ' +
        `Returns workspace-relative paths, sorted, at most ${MAX_RESULTS}.`,
      input_schema: {
        type: 'object',
        properties: {
          pattern: { type: 'string', description: 'Glob pattern, relative to path' },
          path: { type: 'string', description: 'Folder to search in (default: the workspace root)' },
        },
        required: ['pattern'],
      },
    },
    run: (input, ctx) => glob(parseToolInput('Glob', inputSchema, input), ctx),
  };
}

async function glob(input: z.infer<typeof inputSchema>, ctx: ToolContext): Promise<string> {
  const folder = ctx.jail.resolve(input.path ?? '.');
  const info = await statIfExists(folder);
  if (!info) throw new ToolError(`folder does not exist: ${input.path ?? '.'}`);
  if (!info.isDirectory()) throw new ToolError(`${input.path ?? '.'} is a file, not a folder; give its folder as path`);
  const pattern = relativePattern(input.pattern, folder);
  const matcher = globToRegExp(pattern);

  const walk = await walkFiles(folder, { signal: ctx.signal, maxEntries: MAX_WALK_ENTRIES });
  const matches = walk.files
    .filter((file) => matcher.test(path.relative(folder, file).split(path.sep).join('/')))
    .map((file) => ctx.jail.relative(file))
    .sort();
  const notes: string[] = [];
  if (walk.capped) notes.push(`[stopped after looking at ${MAX_WALK_ENTRIES} entries; give a narrower path]`);
  if (matches.length === 0) return ['No files found', ...notes].join('\n');
  const shown = matches.slice(0, MAX_RESULTS);
  if (matches.length > MAX_RESULTS) notes.push(`[showing the first ${MAX_RESULTS} of ${matches.length} files; use a narrower pattern or path]`);
  return [...shown, ...notes].join('\n');
}

/** Patterns are relative to the search folder; an absolute one below it is made relative. */
function relativePattern(pattern: string, folder: string): string {
  const normalised = pattern.replace(/^\.\//, '');
  if (normalised.split('/').includes('..')) throw new ToolError(`pattern '${pattern}' contains '..'; set path to the folder to search instead`);
  if (!path.isAbsolute(normalised)) return normalised;
  if (normalised.startsWith(folder + '/')) return normalised.slice(folder.length + 1);
  throw new ToolError(`pattern '${pattern}' is an absolute path outside the search folder ${folder}; use a relative pattern and set path`);
}
