import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import { DEFAULT_CLIENT_ID, normalizeClientId } from '../protocol/client-id.js';
import { PathOutsideWorkspaceError, WorkspaceJail } from './workspace-jail.js';

/** The folder under the workspace root that holds one folder per client other than `default`. */
export const CLIENTS_FOLDER = 'clients';

/** What of a task decides its workspace: `context.workspace` and `metadata.client_id`. */
export interface WorkspaceOwner {
  context: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/**
 * The workspace root of a client's tasks: the root itself for `default` (tasks sent by `dan send` and
 * raw pushes), `<root>/clients/<client>` for any other. A client id that is not a safe folder name
 * fails the task with the rule.
 */
export function clientWorkspaceRoot(root: string, clientId: unknown): string {
  const client = normalizeClientId(clientId);
  return client === DEFAULT_CLIENT_ID ? root : path.join(root, CLIENTS_FOLDER, client);
}

/**
 * The folder a task's workers (and its checks and review) are confined to: its client's workspace root
 * (see `clientWorkspaceRoot`), or the folder `context.workspace` names. Whoever sends a task chooses that
 * name, so it must stay under that root (relative to it, with `..` and symbolic links resolved) or, for
 * `default` tasks only, under one of `extraRoots` (DAN_WORKSPACE_ROOTS, which a person running the
 * network chose and which every client would share); anything else fails the task with the reason.
 * `default` is the operator's own client: its root, DAN_WORKSPACE, holds the other clients' folders.
 */
export function taskWorkspace(root: string, task: WorkspaceOwner, extraRoots: readonly string[] = []): WorkspaceJail {
  const client = normalizeClientId(task.metadata['client_id']);
  const roots = client === DEFAULT_CLIENT_ID ? extraRoots : [];
  const rootJail = new WorkspaceJail(clientWorkspaceRoot(root, client));
  const sub = task.context['workspace'];
  if (sub === undefined) return rootJail;
  if (typeof sub !== 'string' || sub.trim() === '') throw new InvalidInputError('payload.context.workspace must be a folder path inside the workspace');
  try {
    return new WorkspaceJail(rootJail.resolve(sub));
  } catch (error) {
    if (!(error instanceof PathOutsideWorkspaceError)) throw error;
    const wanted = path.resolve(rootJail.root, sub);
    // An allowed root that does not exist is skipped, not created: only the workspace root is made on demand.
    for (const extra of roots.filter((r) => existsSync(r))) {
      try {
        return new WorkspaceJail(new WorkspaceJail(extra).resolve(wanted));
      } catch (inner) {
        if (!(inner instanceof PathOutsideWorkspaceError)) throw inner;
      }
    }
    // Without other roots the jail's own reason (a symbolic link, say) is the whole story.
    if (roots.length === 0) throw error;
    throw new PathOutsideWorkspaceError(sub, rootJail.root, ` or the other folders DAN_WORKSPACE_ROOTS allows (${roots.join(', ')})`);
  }
}
