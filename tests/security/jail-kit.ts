import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTools } from '../../lib/llm/tools/create-tools.js';
import { ToolError } from '../../lib/llm/tools/tool-error.js';
import type { ToolContext } from '../../lib/llm/tools/worker-tool.js';
import { FileTracker } from '../../lib/workspace/file-tracker.js';
import { PathOutsideWorkspaceError, WorkspaceJail } from '../../lib/workspace/workspace-jail.js';

/** The outside file's content, as the audit's kit had it. */
export const OUTSIDE_SECRET = 'OUTSIDE-SECRET-CONTENT-42\n';

/**
 * The audit's kit: `<kit>/ws` is the workspace (with `inside.txt`), `<kit>/outside/secret.txt` the
 * file a hostile model is after. `call` runs one tool call as the model makes it and returns what
 * the model reads, refused or not.
 */
export interface JailKit {
  kit: string;
  ws: string;
  outside: string;
  ctx: ToolContext;
  call(tool: string, input: Record<string, unknown>): Promise<ToolAnswer>;
  remove(): void;
}

export interface ToolAnswer {
  refused: boolean;
  text: string;
}

export function makeJailKit(): JailKit {
  const kit = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-audit-kit-')));
  const ws = path.join(kit, 'ws');
  const outside = path.join(kit, 'outside');
  mkdirSync(ws);
  mkdirSync(outside);
  writeFileSync(path.join(ws, 'inside.txt'), 'INSIDE-CONTENT\n');
  writeFileSync(path.join(outside, 'secret.txt'), OUTSIDE_SECRET);
  const ctx: ToolContext = { jail: new WorkspaceJail(ws), tracker: new FileTracker(), bashTimeoutMs: 30_000, maxOutputBytes: 100_000 };
  const tools = new Map(createTools(['Read', 'Write', 'Edit', 'Glob', 'Grep', 'Bash']).map((tool) => [tool.definition.name, tool]));
  return {
    kit,
    ws,
    outside,
    ctx,
    async call(name, input) {
      const tool = tools.get(name);
      if (!tool) throw new Error(`no tool ${name}`);
      try {
        return { refused: false, text: await tool.run(input, ctx) };
      } catch (error) {
        // As the tool loop does: every failure becomes an is_error result the model reads, and it goes on.
        if (error instanceof ToolError || error instanceof PathOutsideWorkspaceError) return { refused: true, text: error.message };
        return { refused: true, text: `${name} failed unexpectedly: ${error instanceof Error ? error.message : String(error)}` };
      }
    },
    remove: () => rmSync(kit, { recursive: true, force: true }),
  };
}

/** Replaces the audit's `<audit-kit>` placeholder in a rule's input with this kit's folder. */
export function inKit(kit: JailKit, value: string): string {
  return value.split('<audit-kit>').join(kit.kit);
}
