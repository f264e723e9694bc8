import path from 'node:path';
import type { Redis } from 'ioredis';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { soleDomainOfKind } from '../../lib/agents/domain-kinds.js';
import type { Config } from '../../lib/config.js';
import { DanError, ExitCode, InvalidInputError } from '../../lib/errors.js';
import type { FarmRuntime } from '../../lib/farm/farm-request.js';
import { farmPathOutsideRoots } from '../../lib/farm/farm-request.js';
import { FarmStore } from '../../lib/farm/farm-store.js';
import { DEFAULT_CLIENT_ID } from '../../lib/protocol/client-id.js';
import type { Keys } from '../../lib/redis/keys.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import { clientWorkspaceRoot } from '../../lib/workspace/task-workspace.js';
import { listTasks } from './list-tasks.js';
import { submitJob } from './submit-job.js';

/**
 * A farm as `dan farm start|status|stop` and the HTTP API (/farms) both handle it. A farm is a task of
 * the farm-kind domain; its id is the task's, and its state lives under that id (lib/farm/farm-store.ts).
 */

// An hour: a farm over a large repository takes a while; the task fails itself at its timeout.
export const DEFAULT_FARM_TIMEOUT_SECONDS = 3_600;

/** What a farm is started with; `path` is sent as given (the farm resolves it in its client's workspace). */
export interface FarmStart {
  description?: string | undefined;
  path: string;
  agentCount?: number | undefined;
  problemsCommand?: string | undefined;
  runtime?: FarmRuntime | undefined;
  filesPerChunk?: number | undefined;
  timeoutSeconds?: number | undefined;
  /** Fields of the task's metadata (the client it is sent for). */
  extraMetadata?: Record<string, unknown>;
  source: string;
}

/** The farm-kind domain, whatever its folder is called (a network may rename or replace agents/farm). */
export function farmDomain(config: Pick<Config, 'agentsDir'>): string {
  return soleDomainOfKind(loadAgentCatalog(config.agentsDir), 'farm').name;
}

/** The task that starts a farm, or invalid_input naming what to change (`option` names the field as the caller knows it). */
export function farmTask(start: FarmStart, config: Pick<Config, 'farm' | 'agentsDir'>, option: (field: 'agents' | 'timeout') => string): SubmitInput {
  const agents = start.agentCount ?? config.farm.agents;
  if (!Number.isInteger(agents) || agents < 1) throw new InvalidInputError(`${option('agents')} must be a whole number of at least 1, got ${agents}`);
  if (agents > config.farm.maxAgents) throw new InvalidInputError(`${option('agents')} ${agents} is more than the cap of ${config.farm.maxAgents}: ask for fewer, or raise DAN_FARM_MAX_AGENTS`);
  const timeoutSeconds = start.timeoutSeconds ?? DEFAULT_FARM_TIMEOUT_SECONDS;
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new InvalidInputError(`${option('timeout')} must be a positive number of seconds, got ${timeoutSeconds}`);
  const description = start.description?.trim() || (start.problemsCommand ? `Fix every problem \`${start.problemsCommand}\` reports` : undefined);
  if (!description) throw new InvalidInputError('say what to do: a description of the task, or a problems command');
  const context = {
    path: start.path, agent_count: agents,
    ...(start.problemsCommand ? { problems_command: start.problemsCommand } : {}),
    ...(start.runtime ? { runtime: start.runtime } : {}),
    ...(start.filesPerChunk ? { files_per_chunk: start.filesPerChunk } : {}),
  };
  return { domain: farmDomain(config), description, source: start.source, context, timeoutSeconds, ...(start.extraMetadata ? { extraMetadata: start.extraMetadata } : {}) };
}

/**
 * Why `client` may not start a farm on `given`, or undefined when it may: the path, taken from the
 * client's workspace (README "Each client's workspace"), must stay in it (`default` also in
 * DAN_FARM_ROOTS), by its text and, where the folder exists here, with symbolic links resolved. The
 * farm checks the same again where it runs (src/farm/farm-handler.ts), so this only refuses early.
 */
export function farmPathProblem(config: Pick<Config, 'workspace' | 'farm'>, client: string, given: string): string | undefined {
  const workspace = clientWorkspaceRoot(config.workspace, client);
  const roots = (client === DEFAULT_CLIENT_ID ? [workspace, ...config.farm.roots] : [workspace]).map((root) => path.resolve(root));
  const wanted = path.resolve(workspace, given);
  const inside = roots.some((root) => {
    const relative = path.relative(root, wanted);
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
  });
  if (!inside) return `path '${given}' resolves to ${wanted}, outside the workspace of client '${client}' (${workspace}): give a folder inside it (a relative path is taken from there)`;
  return farmPathOutsideRoots([wanted], roots);
}

/** Queues a farm as `farmTask` built it, the way every job is sent (queue-depth limit included). */
export async function startFarm(redis: Redis, keys: Keys, config: Config, task: SubmitInput): Promise<{ taskId: string }> {
  return submitJob(redis, keys, config, task);
}

/** `dan farm status <id> --json`: the farm's hash, and per agent its state and the files it holds locked. */
export interface FarmStatus {
  farm: Record<string, string>;
  agents: Array<Record<string, unknown> & { name: string; locked: string[] }>;
}

const noFarm = (id: string) => new DanError('not_found', `no farm ${id}: it may still be queued or was refused (dan status ${id}); dan farm status lists the farms`, { exitCode: ExitCode.failed });

/** A farm's status; not_found while it has no state (never started, still queued, or expired). */
export async function farmStatus(redis: Redis, keys: Keys, id: string): Promise<FarmStatus> {
  const store = new FarmStore(redis, keys, id);
  const farm = await store.state();
  if (!farm['farm_id']) throw noFarm(id);
  const agents = await Promise.all((await store.agentNames()).map(async (name) => ({ name, ...(await store.agent(name)), locked: await store.lockedFiles(name) })));
  return { farm, agents };
}

/**
 * Asks a running farm to stop: its agents stop, and what they finished is merged and reported.
 * Resolves with `stopping`, or the status it already ended with; not_found while it has no state.
 */
export async function stopFarm(redis: Redis, keys: Keys, id: string): Promise<{ kind: 'stopping' } | { kind: 'ended'; status: string }> {
  const store = new FarmStore(redis, keys, id);
  const state = await store.state();
  if (!state['farm_id']) throw noFarm(id);
  const status = state['status'] ?? '';
  if (['completed', 'failed'].includes(status)) return { kind: 'ended', status };
  await store.update({ stop_requested: new Date().toISOString() });
  return { kind: 'stopping' };
}

/** One farm in `farmHistory`: when it ran and its problem counts; null where the farm recorded none. */
export interface FarmRun {
  id: string;
  status: string;
  startedAt: string | null;
  endedAt: string | null;
  problemsBefore: number | null;
  /** null until the farm ends, and when it could not count them then (the farm writes 'unknown' or ''). */
  problemsAfter: number | null;
}

/** A count as the farm wrote it, or null for anything else (the hash is read from Redis, so untrusted). */
function countOf(text: string | undefined): number | null {
  return text !== undefined && /^\d{1,9}$/.test(text) ? Number(text) : null;
}

/**
 * `client`'s last `limit` farms that have started, newest first, with their problems before and after:
 * the client's farm-domain tasks as `dan tasks` lists them, each read with its farm state. A farm still
 * queued has no state yet and is left out.
 */
export async function farmHistory(redis: Redis, keys: Keys, config: Pick<Config, 'agentsDir'>, client: string, limit: number): Promise<FarmRun[]> {
  const page = await listTasks(redis, keys, client, { domain: farmDomain(config) }, { limit });
  const states = await Promise.all(page.tasks.map((task) => new FarmStore(redis, keys, task.id).state()));
  return page.tasks.flatMap((task, i) => {
    const farm = states[i] ?? {};
    if (!farm['farm_id']) return [];
    return [{
      id: task.id, status: farm['status'] || task.status, startedAt: farm['started_at'] || null, endedAt: farm['ended_at'] || null,
      problemsBefore: countOf(farm['problems_before']), problemsAfter: countOf(farm['problems_after']),
    }];
  });
}
