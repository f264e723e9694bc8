import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { getResult, submitTask } from '../../lib/redis/task-store.js';
import { round } from './bench-kit.js';
import type { Row } from './bench-report.js';
import type { BenchEnv } from './bench-network.js';
import { startBenchNetwork } from './bench-network.js';

export interface RateLimitResult {
  /** DAN_MODEL_RPM: requests per window allowed. */
  limit: number;
  /** DAN_MODEL_RATE_WINDOW_MS. */
  window_ms: number;
  tasks: number;
  domains: number;
  /** Model requests the local model server received. */
  requests: number;
  /** The most of them in any window of `window_ms`, counted where they arrived. */
  most_in_any_window: number;
  failed_tasks: number;
  /** Requests answered 429 by anyone on the way (the gateway's own refusals past its wait included). */
  answered_429: number;
  /** The run from the first submit to the last task's end. */
  duration_s: number;
}

export interface CacheResult {
  /** Model turns of the worker task. */
  turns: number;
  /** cache_read / (input + cache_read + cache_creation) of the task, as its result says. */
  cache_read_share: number | null;
}

/** The most of `times` (ms) in any window of `windowMs` (one starting at each of them). */
export function mostInAnyWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[j] ?? Infinity) <= (sorted[i] as number) - windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

const DOMAINS = ['backend', 'frontend', 'devops'] as const;

/**
 * Scenario `ratelimit`: 30 single-worker tasks at once over three domains (10 workers each), every
 * model call through the gateway under DAN_MODEL_RPM = `limit` per `windowMs`, against the local model
 * server, which counts every request where it arrives. Goals: never more than `limit` in any window,
 * and no task failing. The quick form shortens the window (DAN_MODEL_RATE_WINDOW_MS), not the rule.
 */
export async function measureRateLimit(env: BenchEnv, limit: number, windowMs: number, tasks = 30): Promise<RateLimitResult> {
  const net = await startBenchNetwork(env, 'ratelimit', {
    DAN_MODEL_RPM: String(limit), DAN_MODEL_RATE_WINDOW_MS: String(windowMs), DAN_MODEL_RATE_MAX_WAIT_MS: String(windowMs * 2),
    DAN_ROLES: 'coder', DAN_WORKERS_PER_TASK: '1', DAN_DOMAIN_CONCURRENCY: String(Math.ceil(tasks / DOMAINS.length)), DAN_MAX_INSTANCES_PER_DOMAIN: '1',
  });
  try {
    env.model.clearRequests();
    const ids = Array.from({ length: tasks }, (_, i) => `rate-${i}`);
    const began = performance.now();
    for (const [i, taskId] of ids.entries()) {
      await submitTask(env.redis, net.keys, { taskId, domain: DOMAINS[i % DOMAINS.length] as string, description: `Create a health endpoint rate-${i}` });
    }
    await net.events.waitAll(ids, 600_000);
    const duration = performance.now() - began;
    const calls = env.model.requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages');
    return {
      limit, window_ms: windowMs, tasks, domains: DOMAINS.length, requests: calls.length,
      most_in_any_window: mostInAnyWindow(calls.map((r) => Date.parse(r.time)), windowMs),
      failed_tasks: net.events.failures(ids),
      answered_429: calls.filter((r) => r.status === 429).length,
      duration_s: round(duration / 1000, 1),
    };
  } finally {
    await net.stop();
  }
}

/**
 * Scenario `cache`: one worker task of 10 model turns (nine tool calls, then its summary) on a local
 * model server of its own, whose prefix caching reads back what earlier turns wrote; the share of the
 * task's input tokens read from the cache is what its result reports. Goal: at least 0.7.
 */
export async function measureCache(env: BenchEnv, turns = 10): Promise<CacheResult> {
  const model = new LocalModelServer({
    rules: [
      { name: 'look-around', when: { system: '^\\s*Worker:\\s*\\S', tool: 'Glob' }, times: turns - 1, reply: { tool_use: [{ name: 'Glob', input: { pattern: '*' } }] } },
      ...defaultRules(),
    ],
  });
  const url = await model.start();
  const net = await startBenchNetwork({ ...env, modelUrl: url }, 'cache', { DAN_ROLES: 'coder', DAN_WORKERS_PER_TASK: '1', DAN_LLM_URL: url });
  try {
    await submitTask(env.redis, net.keys, { taskId: 'cache-0', domain: 'backend', description: 'Look around the project, then create a health endpoint' });
    await net.events.waitAll(['cache-0'], 120_000);
    const result = await getResult(env.redis, net.keys, 'cache-0');
    if (result?.status !== 'completed') throw new Error(`bench: the cache task ${result?.status ?? 'did not end'}: ${result?.error ?? ''}`);
    const share = result.output?.['cache_read_share'];
    const seen = model.requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages').length;
    return { turns: seen, cache_read_share: typeof share === 'number' ? share : null };
  } finally {
    await net.stop();
    await model.stop();
  }
}

/** The two scenarios' rows, each figure beside its goal. */
export function rateLimitRows(r: { ratelimit?: RateLimitResult; cache?: CacheResult }): Row[] {
  const out: Row[] = [];
  const q = r.ratelimit;
  if (q) {
    out.push({
      measure: `rate limit: ${q.tasks} tasks at once on ${q.domains} domains, DAN_MODEL_RPM=${q.limit} per ${q.window_ms / 1000} s window, most model requests in any window at the model server (${q.requests} in ${q.duration_s} s)`,
      value: String(q.most_in_any_window), goal: `<= ${q.limit}`, met: q.requests > 0 ? q.most_in_any_window <= q.limit : null,
    });
    out.push({ measure: `  tasks failed (429s anyone answered: ${q.answered_429})`, value: String(q.failed_tasks), goal: '0', met: q.failed_tasks === 0 });
  }
  const c = r.cache;
  if (c) {
    out.push({
      measure: `prompt cache: share of input tokens read from the cache, one worker task of ${c.turns} turns (local model server's prefix caching)`,
      value: c.cache_read_share === null ? 'n/a' : c.cache_read_share.toFixed(3), goal: '>= 0.7', met: c.cache_read_share === null ? null : c.cache_read_share >= 0.7,
    });
  }
  return out;
}
