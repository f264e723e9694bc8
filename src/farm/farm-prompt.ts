import { memoryBlock } from '../../lib/elf/elf-context.js';
import type { Chunk } from '../../lib/farm/chunks.js';
import type { Problem } from '../../lib/farm/problems.js';

export interface ChunkPromptInput {
  task: string;
  agent: string;
  farmId: string;
  worktree: string;
  chunk: Chunk;
  chunkCount: number;
  /** What is left of the chunk (all of it on a first run). */
  problems: readonly Problem[];
  problemsCommand: string | undefined;
  memory: string | undefined;
  /** A fresh session after the previous one filled its context. */
  renewal: boolean;
}

/** The first message of a farm agent: the user's task, its chunk, and what the memory knows. */
export function chunkPrompt(input: ChunkPromptInput): string {
  const parts = [
    `Task: ${input.task}`,
    '',
    `You are ${input.agent} of farm ${input.farmId}, on chunk ${input.chunk.id} of ${input.chunkCount}, in your own git worktree.`,
    `Primary working directory: ${input.worktree}`,
  ];
  if (input.renewal) parts.push('An earlier session on this chunk ran out of context; its edits are in the worktree. What is left is below.');
  if (input.chunk.part) parts.push('', 'Your part of the task:', input.chunk.part);
  if (input.chunk.files.length > 0) parts.push('', `Chunk files: ${input.chunk.files.join(' ')}`);
  if (input.problems.length > 0) {
    parts.push('', `Problems to fix${input.problemsCommand ? ` (reported by \`${input.problemsCommand}\`)` : ''}:`);
    for (const p of input.problems) parts.push(`- ${p.file}:${p.line}${p.column !== undefined ? `:${p.column}` : ''}: ${p.message}`);
  }
  if (input.memory && input.memory.trim() !== '') parts.push('', memoryBlock(input.memory));
  return parts.join('\n');
}
