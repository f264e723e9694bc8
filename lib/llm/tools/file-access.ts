import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ToolError } from './tool-error.js';

/** `stat` of a file, or undefined when nothing is there. */
export async function statIfExists(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw toToolError(error, file);
  }
}

/**
 * Turns a file system error into a `ToolError` that names the path as the model wrote it, so the
 * model can act on it. Errors without an errno code pass through unchanged.
 */
export function toToolError(error: unknown, shownPath: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new ToolError(`file does not exist: ${shownPath}; use Glob to find the right path`, { cause: error });
    case 'ENOTDIR':
      return new ToolError(`a part of ${shownPath} is a file, not a folder`, { cause: error });
    case 'EISDIR':
      return new ToolError(`${shownPath} is a folder, not a file; use Glob to list its files`, { cause: error });
    case 'EACCES':
    case 'EPERM':
      return new ToolError(`permission denied: ${shownPath}`, { cause: error });
    case undefined:
      return error;
    default:
      return new ToolError(`${shownPath}: ${(error as Error).message}`, { cause: error });
  }
}

// 8 KB: the same window git uses to decide a file is binary.
const BINARY_SNIFF_BYTES = 8000;

/** True when the content has a NUL byte near its start: tools show text files only. */
export function looksBinary(content: Buffer): boolean {
  return content.subarray(0, BINARY_SNIFF_BYTES).includes(0);
}
