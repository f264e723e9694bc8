import { lstatSync, mkdirSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { DanError } from '../errors.js';
import type { Spawner } from '../spawner/spawner.js';

/**
 * Thrown when a path given by the model (or a task) lands outside the workspace. Not retryable: the
 * same path fails the same way. The message is written for the model, which sees it as a tool error
 * and can pick another path.
 */
export class PathOutsideWorkspaceError extends DanError {
  readonly userPath: string;

  constructor(userPath: string, root: string, detail = '') {
    super('path_outside_workspace', `path '${userPath}' resolves outside the workspace ${root}${detail}; use a path inside it`, {
      retryable: false,
    });
    this.name = 'PathOutsideWorkspaceError';
    this.userPath = userPath;
  }
}

// Same bound as the kernel's MAXSYMLINKS: more hops than this is a loop.
const MAX_LINK_HOPS = 40;

/**
 * The folder a worker's tools may touch. Every path from the model goes through `resolve` before
 * any file is read, written or listed, so neither `..`, an absolute path nor a symbolic link can
 * reach files outside. Created if missing. Checks are synchronous: they are a few `lstat` and
 * `realpath` calls, far cheaper than the model turn around them.
 */
export class WorkspaceJail {
  /** Real path of the root (symbolic links of the root itself resolved). */
  readonly root: string;
  /** The root as given, made absolute; absolute paths spelt with it are accepted too. */
  private readonly givenRoot: string;

  constructor(root: string) {
    this.givenRoot = path.resolve(root);
    mkdirSync(this.givenRoot, { recursive: true });
    this.root = realpathSync(this.givenRoot);
  }

  /**
   * The absolute path `userPath` names (relative paths are taken from the root), with symbolic links
   * resolved, or a `PathOutsideWorkspaceError`. The file itself need not exist, nor its folders:
   * only the part of the path that exists is resolved and checked.
   */
  resolve(userPath: string): string {
    if (userPath.includes('\0')) throw new PathOutsideWorkspaceError(userPath.replace(/\0/g, '\\0'), this.root, ' (it contains a NUL byte)');
    const lexical = path.resolve(this.givenRoot, userPath);
    if (!isInside(this.givenRoot, lexical) && !isInside(this.root, lexical)) {
      throw new PathOutsideWorkspaceError(userPath, this.root);
    }
    const real = this.realPathOf(lexical, userPath, 0);
    if (!isInside(this.root, real)) {
      throw new PathOutsideWorkspaceError(userPath, this.root, ` (through a symbolic link, to ${real})`);
    }
    return real;
  }

  /** True when `realPath` (symbolic links already resolved) is the root or below it. */
  contains(realPath: string): boolean {
    return isInside(this.root, realPath);
  }

  /** The workspace-relative form of an absolute path, with `/` separators; `.` for the root. */
  relative(absolutePath: string): string {
    const base = isInside(this.root, absolutePath) || !isInside(this.givenRoot, absolutePath) ? this.root : this.givenRoot;
    const rel = path.relative(base, absolutePath);
    return rel === '' ? '.' : rel.split(path.sep).join('/');
  }

  /**
   * Real path of the nearest existing ancestor joined with the rest. A dangling symbolic link on the
   * way is followed by hand, because writing through it would create its target.
   */
  private realPathOf(absolute: string, userPath: string, hops: number): string {
    if (hops > MAX_LINK_HOPS) throw new PathOutsideWorkspaceError(userPath, this.root, ' (a loop of symbolic links)');
    const tail: string[] = [];
    let current = absolute;
    for (;;) {
      try {
        return path.join(realpathSync(current), ...tail);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ELOOP') throw new PathOutsideWorkspaceError(userPath, this.root, ' (a loop of symbolic links)');
        // EINVAL: a symbolic link on the way was replaced while it was read; resolve again, as many times as hops allow.
        if (code === 'EINVAL') return this.realPathOf(absolute, userPath, hops + 1);
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      }
      const link = danglingLinkTarget(current);
      if (link !== undefined) return this.realPathOf(path.join(link, ...tail), userPath, hops + 1);
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      tail.unshift(path.basename(current));
      current = parent;
    }
  }
}

/** True when `candidate` is `root` or below it. */
function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  // `..foo` is a name inside the root; only `..` itself or `../...` climbs out.
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + path.sep) && !path.isAbsolute(rel));
}

/** Absolute target of `file` when it is a symbolic link whose target does not exist. */
function danglingLinkTarget(file: string): string | undefined {
  try {
    if (!lstatSync(file).isSymbolicLink()) return undefined;
    return path.resolve(path.dirname(file), readlinkSync(file));
  } catch {
    return undefined;
  }
}

/** What `hostBashWarning` needs of a domain: its name and its workers' tools. */
export interface DomainTools {
  name: string;
  workers: readonly { tools: readonly string[] }[];
}

/**
 * The jail covers the file tools only: a `Bash` command can reach anything the agent's user can. One
 * line for the start-up log when such workers will run as processes on this host rather than in
 * containers, naming their domains and how to isolate them; undefined when there is nothing to say.
 */
export function hostBashWarning(domains: readonly DomainTools[], spawner: Spawner['kind']): string | undefined {
  // In containers, or not on this host at all (external: whatever runs them decides where and how).
  if (spawner === 'docker' || spawner === 'swarm' || spawner === 'external') return undefined;
  const withBash = domains.filter((d) => d.workers.some((w) => w.tools.includes('Bash'))).map((d) => d.name).sort();
  if (withBash.length === 0) return undefined;
  return `workers with Bash run as processes on this host, outside any container (domains: ${withBash.join(', ')}); `
    + 'their commands can reach whatever this user can, beyond the workspace: set DAN_SPAWNER=docker (or dan up --spawner docker) to run each domain in its own container';
}
