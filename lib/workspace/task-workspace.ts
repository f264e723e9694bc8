import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import { PathOutsideWorkspaceError, WorkspaceJail } from './workspace-jail.js';

/**
 * The folder a task's workers are confined to: the workspace root, or the folder `context.workspace`
 * names. Whoever sends a task chooses that name, so it must stay under the root (relative to it, with
 * `..` and symbolic links resolved) or under one of `extraRoots` (DAN_WORKSPACE_ROOTS), which a person
 * running the network chose; anything else fails the task with the reason.
 */
export function taskWorkspace(root: string, context: Record<string, unknown>, extraRoots: readonly string[] = []): WorkspaceJail {
  const rootJail = new WorkspaceJail(root);
  const sub = context['workspace'];
  if (sub === undefined) return rootJail;
  if (typeof sub !== 'string' || sub.trim() === '') throw new InvalidInputError('payload.context.workspace must be a folder path inside the workspace');
  try {
    return new WorkspaceJail(rootJail.resolve(sub));
  } catch (error) {
    if (!(error instanceof PathOutsideWorkspaceError)) throw error;
    const wanted = path.resolve(root, sub);
    // An allowed root that does not exist is skipped, not created: only the workspace root is made on demand.
    for (const extra of extraRoots.filter((r) => existsSync(r))) {
      try {
        return new WorkspaceJail(new WorkspaceJail(extra).resolve(wanted));
      } catch (inner) {
        if (!(inner instanceof PathOutsideWorkspaceError)) throw inner;
      }
    }
    // Without other roots the jail's own reason (a symbolic link, say) is the whole story.
    if (extraRoots.length === 0) throw error;
    throw new PathOutsideWorkspaceError(sub, rootJail.root, ` or the other folders DAN_WORKSPACE_ROOTS allows (${extraRoots.join(', ')})`);
  }
}
