import { DanError } from '../../errors.js';
import { createBashTool } from './bash-tool.js';
import { createEditTool } from './edit-tool.js';
import { createGlobTool } from './glob-tool.js';
import { createGrepTool } from './grep-tool.js';
import { createReadTool } from './read-tool.js';
import type { WorkerTool } from './worker-tool.js';
import { createWriteTool } from './write-tool.js';

const factories = {
  Read: createReadTool,
  Write: createWriteTool,
  Edit: createEditTool,
  Glob: createGlobTool,
  Grep: createGrepTool,
  Bash: createBashTool,
} as const satisfies Record<string, () => WorkerTool>;

/** Names of every tool a worker can be given, as written in agent definitions' `tools:` lists. */
export type ToolName = keyof typeof factories;
export const TOOL_NAMES = Object.keys(factories) as ToolName[];

/**
 * The tools an agent definition asks for, in the order given (duplicates once). An unknown name is
 * a mistake in the definition, so it fails before any model call, naming the tools that exist.
 */
export function createTools(names: readonly string[]): WorkerTool[] {
  const unique = [...new Set(names.map((name) => name.trim()).filter((name) => name !== ''))];
  const unknown = unique.filter((name) => !isToolName(name));
  if (unknown.length > 0) {
    throw new DanError(
      'unknown_tool',
      `unknown tool${unknown.length > 1 ? 's' : ''} ${unknown.map((name) => `'${name}'`).join(', ')}; known tools: ${TOOL_NAMES.join(', ')}`,
      { retryable: false },
    );
  }
  return unique.map((name) => factories[name as ToolName]());
}

function isToolName(name: string): name is ToolName {
  return Object.hasOwn(factories, name);
}
