import path from 'node:path';
import type { FarmStore } from '../../lib/farm/farm-store.js';
import type { EditGuard } from '../worker/worker-runtime.js';

export interface GuardSettings {
  store: FarmStore;
  agent: string;
  /** The agent's git worktree: it may write nothing outside it. */
  worktree: string;
  lockMs: number;
}

/**
 * The farm's rule for every write: inside the agent's worktree only, and only to a file whose lock
 * the agent holds or can take now (reads: inside the worktree only). Returns the refusal the model
 * reads, or undefined to allow.
 */
export async function checkEdit(settings: GuardSettings, file: string, phase: 'before' | 'after' | 'read'): Promise<string | undefined> {
  const outside = outsideWorktree(settings.worktree, file);
  if (outside || phase === 'read') return outside;
  const relative = path.relative(settings.worktree, path.resolve(settings.worktree, file));
  if (relative === '') return `${file} is your worktree itself, not a file: name a file inside it`;
  const { allowed, owner } = await settings.store.editLock(settings.agent, relative.split(path.sep).join('/'), settings.lockMs, phase);
  if (allowed || phase === 'after') return undefined;
  return `${relative} is locked by ${owner}, another agent of this farm: wait and try again, or leave this file and finish the rest of your chunk`;
}

/** The refusal for a path outside the worktree, or undefined for one inside it. */
export function outsideWorktree(worktree: string, file: string): string | undefined {
  const relative = path.relative(worktree, path.resolve(worktree, file));
  if (!relative.startsWith('..') && !path.isAbsolute(relative)) return undefined;
  return `${file} is outside your worktree (${worktree}): work only on files of this repository`;
}

/** The guard for a farm agent: checked in process by the SDK runtime, by a hook command in the Claude Code CLI. */
export function farmEditGuard(settings: GuardSettings, hook: { script: string; env: Record<string, string> }): EditGuard {
  return {
    check: (file, phase) => checkEdit(settings, file, phase),
    hook: {
      command: `${JSON.stringify(process.execPath)} ${JSON.stringify(hook.script)}`,
      env: {
        ...hook.env,
        DAN_FARM_ID: settings.store.farmId,
        DAN_FARM_AGENT: settings.agent,
        DAN_FARM_WORKTREE: settings.worktree,
        DAN_FARM_LOCK_MS: String(settings.lockMs),
      },
    },
  };
}
