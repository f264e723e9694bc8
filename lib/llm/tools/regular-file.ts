import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { toToolError } from './file-access.js';
import { ToolError } from './tool-error.js';

/**
 * File tools open regular files only. `open` of a named pipe with no writer blocks a libuv threadpool
 * thread until someone writes, and an abort cannot free it: four such Reads left every file tool of a
 * domain hanging. So files are opened with O_NONBLOCK, which returns at once for a pipe, and checked
 * with `fstat` on the open handle (the file that is open, not whatever the path names a moment later)
 * before a byte is read or written.
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK;

/** What a file that is not a regular file is, for the tool error the model reads. */
export function fileKind(info: Stats): string {
  if (info.isDirectory()) return 'a folder';
  if (info.isFIFO()) return 'a named pipe (FIFO)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** The tool error for a path that is there but is not a regular file. */
export function notRegularFile(shownPath: string, info: Stats): ToolError {
  return new ToolError(`${shownPath} is ${fileKind(info)}, not a regular file; file tools read and write regular files only`);
}

async function openChecked(file: string, flags: number, shownPath: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(file, flags, 0o666);
  } catch (error) {
    // ENXIO: a pipe opened for writing with no reader; a socket.
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') {
      throw new ToolError(`${shownPath} is a named pipe or socket, not a regular file; file tools read and write regular files only`);
    }
    throw toToolError(error, shownPath);
  }
  const info = await handle.stat();
  if (info.isFile()) return handle;
  await handle.close();
  throw notRegularFile(shownPath, info);
}

/** The whole content of a regular file; a pipe, socket, device or folder gives a `ToolError`. */
export async function readRegularFile(file: string, shownPath: string): Promise<Buffer> {
  const handle = await openChecked(file, READ_FLAGS, shownPath);
  try {
    return await handle.readFile();
  } catch (error) {
    throw toToolError(error, shownPath);
  } finally {
    await handle.close();
  }
}

/** Creates or replaces a regular file's content; anything else at the path gives a `ToolError`. */
export async function writeRegularFile(file: string, content: string, shownPath: string): Promise<void> {
  const handle = await openChecked(file, WRITE_FLAGS, shownPath);
  try {
    await handle.writeFile(content, 'utf8');
  } catch (error) {
    throw toToolError(error, shownPath);
  } finally {
    await handle.close();
  }
}
