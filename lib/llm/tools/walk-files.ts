import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from './tool-error.js';

/** Folders no search looks into: dependencies and version control, never the model's work. */
export const SKIPPED_FOLDERS: ReadonlySet<string> = new Set(['node_modules', '.git']);

export interface WalkOptions {
  signal?: AbortSignal;
  /** Stop after this many entries (files and folders) have been seen; the walk then reports `capped`. */
  maxEntries: number;
}

export interface WalkResult {
  /** Absolute paths of files (and symbolic links, which are not followed), in sorted order. */
  files: string[];
  capped: boolean;
}

/**
 * Every file below `folder`, depth first in name order, for Glob and Grep. Symbolic links to
 * folders are not entered, so a link cannot lead the walk out of the workspace or into a loop.
 */
export async function walkFiles(folder: string, options: WalkOptions): Promise<WalkResult> {
  const files: string[] = [];
  let seen = 0;
  const visit = async (dir: string): Promise<boolean> => {
    throwIfAborted(options.signal, 'the file search');
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      // A folder we may not read is skipped rather than failing the whole search.
      return true;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      seen += 1;
      if (seen > options.maxEntries) return false;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (SKIPPED_FOLDERS.has(entry.name)) continue;
        if (!(await visit(full))) return false;
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        files.push(full);
      }
    }
    return true;
  };
  const complete = await visit(folder);
  return { files, capped: !complete };
}
