import { constants, type Stats } from 'node:fs';
import { open, readlink, realpath, stat, unlink, type FileHandle } from 'node:fs/promises';
import { PathOutsideWorkspaceError, type WorkspaceJail } from '../../workspace/workspace-jail.js';
import { toToolError } from './file-access.js';
import { ToolError } from './tool-error.js';

/**
 * File tools open regular files only. `open` of a named pipe with no writer blocks a libuv threadpool
 * thread until someone writes, and an abort cannot free it: four such Reads left every file tool of a
 * domain hanging. So files are opened with O_NONBLOCK, which returns at once for a pipe, and checked
 * with `fstat` on the open handle (the file that is open, not whatever the path names a moment later)
 * before a byte is read or written.
 *
 * The jail resolves a path before it is opened, so a folder on the way swapped for a symbolic link in
 * between would lead the open outside (the audit's standalone race did, 237 times in 29,502 reads).
 * So the open handle is checked too: where the kernel says the opened file is (/proc/self/fd) must be
 * inside the jail. Writes open without O_TRUNC and truncate only after that check, so a refused write
 * changes nothing; a file the refused write created outside is removed.
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;
const CREATE_FLAGS = WRITE_FLAGS | constants.O_CREAT | constants.O_EXCL;

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

/**
 * The tool error for a file with more than one name. A hard link shows nothing of where its other
 * names are, so the jail cannot tell whether one of them is outside the workspace (the audit read and
 * changed an outside file through one); such files are refused, and the message says how to make a
 * file of the workspace's own from it.
 */
export function hardLinked(shownPath: string, links: number): ToolError {
  return new ToolError(
    `${shownPath} has ${links} hard links: another name of the same file may be outside the workspace, so file tools ` +
      `do not read or change it; to work on it, make it a file of its own with Bash (cp ${shownPath} ${shownPath}.copy && mv ${shownPath}.copy ${shownPath})`,
  );
}

async function openOnce(file: string, flags: number, shownPath: string): Promise<FileHandle> {
  try {
    return await open(file, flags, 0o666);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENXIO: a pipe opened for writing with no reader; a socket.
    if (code === 'ENXIO') {
      throw new ToolError(`${shownPath} is a named pipe or socket, not a regular file; file tools read and write regular files only`);
    }
    // ELOOP with O_NOFOLLOW: the file was replaced by a symbolic link after the jail resolved it.
    if (code === 'ELOOP') throw new ToolError(`${shownPath} was replaced by a symbolic link while it was being opened; file tools do not follow it`);
    throw error;
  }
}

/** Opens for writing an existing file, or creates it; `created` says which, for clean-up. */
async function openForWrite(file: string, shownPath: string): Promise<{ handle: FileHandle; created: boolean }> {
  try {
    return { handle: await openOnce(file, WRITE_FLAGS, shownPath), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return { handle: await openOnce(file, CREATE_FLAGS, shownPath), created: true };
}

/**
 * Where the open file really is. Linux says it in /proc/self/fd; elsewhere the path is resolved again
 * and must still name the same file (a narrower window than none).
 */
async function openedPath(handle: FileHandle, file: string, info: Stats): Promise<string | undefined> {
  try {
    return (await readlink(`/proc/self/fd/${handle.fd}`)).replace(/ \(deleted\)$/, '');
  } catch {
    try {
      const real = await realpath(file);
      const again = await stat(real);
      return again.dev === info.dev && again.ino === info.ino ? real : undefined;
    } catch {
      return undefined;
    }
  }
}

async function openChecked(file: string, mode: 'read' | 'write', shownPath: string, jail: WorkspaceJail): Promise<FileHandle> {
  let handle: FileHandle;
  let created = false;
  try {
    if (mode === 'read') handle = await openOnce(file, READ_FLAGS, shownPath);
    else ({ handle, created } = await openForWrite(file, shownPath));
  } catch (error) {
    throw error instanceof ToolError ? error : toToolError(error, shownPath);
  }
  try {
    const info = await handle.stat();
    const real = await openedPath(handle, file, info);
    if (real === undefined || !jail.contains(real)) {
      if (created && real !== undefined) await unlink(real).catch(() => undefined);
      throw new PathOutsideWorkspaceError(shownPath, jail.root, ` (a folder on the way changed while it was being opened${real ? `, to ${real}` : ''})`);
    }
    if (!info.isFile()) throw notRegularFile(shownPath, info);
    if (info.nlink > 1) throw hardLinked(shownPath, info.nlink);
    if (mode === 'write') await handle.truncate(0);
    return handle;
  } catch (error) {
    await handle.close();
    throw error instanceof ToolError || error instanceof PathOutsideWorkspaceError ? error : toToolError(error, shownPath);
  }
}

/**
 * The whole content of a regular file inside `jail`; a pipe, socket, device, folder, hard-linked file
 * or a file that turns out to be outside gives a tool error.
 */
export async function readRegularFile(file: string, shownPath: string, jail: WorkspaceJail): Promise<Buffer> {
  const handle = await openChecked(file, 'read', shownPath, jail);
  try {
    return await handle.readFile();
  } catch (error) {
    throw toToolError(error, shownPath);
  } finally {
    await handle.close();
  }
}

/** Creates or replaces a regular file's content inside `jail`; anything else at the path gives a tool error. */
export async function writeRegularFile(file: string, content: string, shownPath: string, jail: WorkspaceJail): Promise<void> {
  const handle = await openChecked(file, 'write', shownPath, jail);
  try {
    await handle.writeFile(content, 'utf8');
  } catch (error) {
    throw toToolError(error, shownPath);
  } finally {
    await handle.close();
  }
}
