import type { Problem } from './problems.js';

/** A unit of farm work: some files and the problems in them, done by one agent at a time. */
export interface Chunk {
  id: string;
  files: string[];
  problems: Problem[];
  /** A part of the task, when the farm has no problems command and the model split the task. */
  part?: string;
}

/**
 * Splits problems into chunks by file, so two agents rarely want the same file: every file's
 * problems stay together, files are taken in order of their problem count (largest first) and a
 * chunk holds at most `filesPerChunk` files.
 */
export function chunkProblems(problems: readonly Problem[], filesPerChunk = 1): Chunk[] {
  const byFile = new Map<string, Problem[]>();
  for (const p of problems) {
    const list = byFile.get(p.file) ?? [];
    list.push(p);
    byFile.set(p.file, list);
  }
  const files = [...byFile.keys()].sort((a, b) => (byFile.get(b)?.length ?? 0) - (byFile.get(a)?.length ?? 0) || a.localeCompare(b));
  const size = Math.max(1, Math.floor(filesPerChunk));
  const chunks: Chunk[] = [];
  for (let i = 0; i < files.length; i += size) {
    const group = files.slice(i, i + size);
    chunks.push({
      id: String(chunks.length + 1),
      files: group,
      problems: group.flatMap((f) => (byFile.get(f) ?? []).sort((a, b) => a.line - b.line)),
    });
  }
  return chunks;
}
