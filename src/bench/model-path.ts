import { submitTask } from '../../lib/redis/task-store.js';
import { round } from './bench-kit.js';
import type { BenchEnv, BenchNetwork } from './bench-network.js';

export interface ModelPathResult {
  tasks: number;
  /** Model requests (turns) per task. */
  turns_per_task: number;
  task_ms_median: number;
  /** The task's time over its model turns, the model answering at once: what the network adds per turn. */
  overhead_per_turn_ms: number;
  requests: number;
  /** Requests whose stable prefix (system prompt, tool definitions) carries a `cache_control` mark. */
  requests_marked_for_cache: number;
}

function marksStablePrompt(body: unknown): boolean {
  if (body === null || typeof body !== 'object') return false;
  const { system, tools } = body as { system?: unknown; tools?: unknown };
  const marked = (blocks: unknown) => Array.isArray(blocks) && blocks.some((b) => typeof b === 'object' && b !== null && 'cache_control' in b);
  const systemOk = system === undefined || marked(system);
  const toolsOk = tools === undefined || (Array.isArray(tools) && tools.length === 0) || marked(tools);
  return systemOk && toolsOk && (system !== undefined || tools !== undefined);
}

/**
 * Scenario 8: single-worker tasks sent to a domain, one at a time, on the local model server (which
 * answers at once and records every request). Includes the worker's tool calls (writing its file).
 */
export async function measureModelPath(env: BenchEnv, net: BenchNetwork, tasks: number): Promise<ModelPathResult> {
  const run = async (label: string) => {
    env.model.clearRequests();
    const started = performance.now();
    await submitTask(env.redis, net.keys, { taskId: label, domain: 'backend', description: `Create a health endpoint ${label}` });
    await net.events.waitAll([label], 120_000);
    const end = net.events.finished.get(label);
    if (end?.status !== 'completed') throw new Error(`bench: the model-path task ${label} ${end?.status ?? 'did not end'}`);
    const requests = env.model.requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages');
    return { ms: end.ms - started, requests };
  };
  await run('model-warm');
  const times: number[] = [];
  let requests = 0;
  let marked = 0;
  for (let i = 0; i < tasks; i++) {
    const one = await run(`model-${i}`);
    times.push(one.ms);
    requests += one.requests.length;
    marked += one.requests.filter((r) => marksStablePrompt(r.body)).length;
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor((times.length - 1) / 2)] ?? Number.NaN;
  const turns = requests / tasks;
  return {
    tasks, turns_per_task: round(turns, 2), task_ms_median: round(median), overhead_per_turn_ms: round(median / turns),
    requests, requests_marked_for_cache: marked,
  };
}
