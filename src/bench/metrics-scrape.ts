import { performance } from 'node:perf_hooks';
import { loadConfig } from '../../lib/config.js';
import { FailureCode } from '../../lib/protocol/failure.js';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import { Keys } from '../../lib/redis/keys.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { renderMetrics } from '../metrics/prometheus-metrics.js';
import { metricsSnapshot } from '../operations/metrics-snapshot.js';
import { commandCounts, commandsPerTask, round, spread, submitEchoes, type Spread } from './bench-kit.js';
import type { BenchEnv } from './bench-network.js';

export interface MetricsScrapeResult {
  /** Tasks waiting in Redis while scraped. */
  tasks: number;
  /** Of which ended first, so the counters and histograms have values. */
  ended: number;
  scrapes: number;
  /** Redis commands per scrape, by name, and their total. */
  commands: { total: number; byCommand: Record<string, number> };
  /** One scrape in this process: read Redis and render the text (ms). */
  ms: Spread;
  /** The same against a prefix holding no task. */
  empty_ms: Spread;
  bytes: number;
}

/**
 * What a /metrics scrape costs with `count` tasks in Redis: `count` echo tasks queued to `backend`
 * (nobody serves it here), some of them claimed and ended, then scrapes one after another, each
 * timed, and Redis' command counts over them; then the same scrape of a prefix with nothing in it.
 */
export async function measureMetricsScrape(env: BenchEnv, count: number, scrapes: number): Promise<MetricsScrapeResult> {
  const prefix = `bench:metrics:${process.pid}:`;
  const keys = new Keys(prefix);
  const config = loadConfig({}, { REDIS_URL: env.redisUrl, DAN_KEY_PREFIX: prefix });
  env.progress(`metrics: queueing ${count} tasks`);
  await submitEchoes(env.redis, keys, 'backend', Array.from({ length: count }, (_, i) => `metrics-${i}`), 2_000);
  const queue = new TaskQueue(env.redis, keys, queueOptions(config, 'backend', 'bench-metrics'));
  const ended = Math.min(500, count);
  for (let done = 0; done < ended;) {
    for (const task of await queue.claim(Math.min(100, ended - done))) {
      await queue.finish(task, done % 5 === 0 ? { status: 'failed', output: { failure: { code: FailureCode.workerFailed, retryable: false } }, error: 'bench' } : { status: 'completed', output: {} });
      done += 1;
    }
  }
  const timed = async (scrapeKeys: Keys, scrapeConfig: typeof config): Promise<{ ms: number[]; bytes: number }> => {
    const registry = new HeartbeatRegistry(env.redis, scrapeKeys, scrapeConfig.heartbeatTtlMs);
    const ms: number[] = [];
    let bytes = 0;
    for (let i = 0; i < scrapes; i++) {
      const started = performance.now();
      const { text } = await renderMetrics(() => metricsSnapshot(env.redis, scrapeKeys, scrapeConfig, registry));
      ms.push(performance.now() - started);
      bytes = Buffer.byteLength(text);
    }
    return { ms, bytes };
  };
  await timed(keys, config);
  env.progress(`metrics: ${scrapes} scrapes`);
  const before = await commandCounts(env.redis);
  const full = await timed(keys, config);
  const after = await commandCounts(env.redis);
  const emptyKeys = new Keys(`bench:metrics-empty:${process.pid}:`);
  const empty = await timed(emptyKeys, loadConfig({}, { REDIS_URL: env.redisUrl, DAN_KEY_PREFIX: emptyKeys.prefix }));
  for (let cursor = '0'; ;) {
    const [next, found] = await env.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5_000);
    if (found.length > 0) await env.redis.unlink(...found);
    cursor = next;
    if (cursor === '0') break;
  }
  return { tasks: count, ended, scrapes, commands: commandsPerTask(before, after, scrapes), ms: spread(full.ms), empty_ms: spread(empty.ms), bytes: round(full.bytes, 0) };
}
