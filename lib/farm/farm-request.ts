import { existsSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export const FARM_RUNTIMES = ['claude-code', 'sdk'] as const;
export type FarmRuntime = (typeof FARM_RUNTIMES)[number];

/** What a farm task asks for, from its `payload.context`. */
export interface FarmRequest {
  path: string;
  agentCount: number;
  /** Shell command whose output lists the problems; absent: the task itself is split into parts. */
  problemsCommand: string | undefined;
  /** Problems the user listed instead of a command (`file:line: message` lines). */
  problemsList: string[] | undefined;
  runtime: FarmRuntime;
  filesPerChunk: number;
}

const contextSchema = z.looseObject({
  path: z.string({ error: 'is required: the folder of the git repository to work on' }).trim().min(1, 'must not be empty'),
  agent_count: z.number({ error: 'must be a whole number' }).int('must be a whole number').optional(),
  problems_command: z.string().trim().min(1, 'must not be empty').optional(),
  problems: z.array(z.string()).optional(),
  runtime: z.enum(FARM_RUNTIMES, { error: `must be one of ${FARM_RUNTIMES.join(', ')}` }).optional(),
  files_per_chunk: z.number().int().positive().optional(),
});

/** Context keys that would choose what program runs as an agent: never taken from a task. */
const FORBIDDEN_KEYS = ['agent_command', 'claude_path', 'command', 'agent_args'];

export interface FarmDefaults {
  agentCount: number;
  maxAgents: number;
  runtime: FarmRuntime;
  /** Relative paths are resolved against this folder (the network's workspace). */
  workspace: string;
}

/**
 * Reads a farm request from a task's context, or lists every reason it cannot run, each with its
 * fix. Checks only what the context itself says; `checkFarmHost` checks the machine.
 */
export function parseFarmRequest(context: Record<string, unknown>, defaults: FarmDefaults): { ok: true; request: FarmRequest } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  for (const key of FORBIDDEN_KEYS) {
    if (key in context) problems.push(`context.${key} is not accepted: the program an agent runs is set on the farm's host (DAN_CLAUDE_PATH), never by a task`);
  }
  const parsed = contextSchema.safeParse(context);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`context.${issue.path.join('.')} ${issue.message}`);
    return { ok: false, problems };
  }
  const c = parsed.data;
  const agentCount = c.agent_count ?? defaults.agentCount;
  if (agentCount < 1) problems.push(`context.agent_count is ${agentCount}: a farm needs at least 1 agent`);
  if (agentCount > defaults.maxAgents) problems.push(`context.agent_count is ${agentCount}, more than the cap of ${defaults.maxAgents}: ask for fewer agents, or raise DAN_FARM_MAX_AGENTS`);
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    request: {
      path: path.resolve(defaults.workspace, c.path),
      agentCount,
      problemsCommand: c.problems_command,
      problemsList: c.problems,
      runtime: c.runtime ?? defaults.runtime,
      filesPerChunk: c.files_per_chunk ?? 1,
    },
  };
}

/** Whether `program` can be run: an existing path, or a name found on the PATH. */
export function programExists(program: string, envPath = process.env['PATH'] ?? ''): boolean {
  if (program.includes('/')) return existsSync(program) && statSync(program).isFile();
  return envPath.split(':').some((dir) => dir !== '' && existsSync(path.join(dir, program)));
}

/**
 * Why a farm may not work on these folders (its path and its repository's root), or undefined when
 * each is under one of `roots` once symlinks and `..` are resolved. The farm runs a task's problems
 * command there and writes branches into the repository, so a task must not choose any repository the
 * agent's user can reach. A folder that does not exist is left to the repository check.
 */
export function farmPathOutsideRoots(dirs: readonly string[], roots: readonly string[]): string | undefined {
  const realRoots = roots.flatMap((root) => {
    try {
      return [realpathSync(root)];
    } catch {
      return [];
    }
  });
  for (const dir of dirs) {
    let real: string;
    try {
      real = realpathSync(dir);
    } catch {
      continue;
    }
    if (!realRoots.some((root) => isUnder(real, root))) {
      return `path ${dir} (${real}) is outside the folders a farm may work on (${roots.join(', ')}): move the repository under DAN_WORKSPACE, or add its folder to DAN_FARM_ROOTS`;
    }
  }
  return undefined;
}

function isUnder(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}
