import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailureCode } from '../../lib/protocol/failure.js';
import { HISTORY_WINDOWS, TASK_DURATION_BOUNDS_MS, historyKeepS } from '../../lib/redis/metric-buckets.js';
import { readMetricCounters } from '../../lib/redis/task-metrics.js';
import { TaskQueue, cancelTask, queueOptions } from '../../lib/redis/task-queue.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';
import { MovableClock } from '../support/movable-clock.js';

function task(description: string, domain: string): SubmitInput {
  return { domain, description, type: 'task_assignment', source: 'test', requirements: [], context: {}, priority: 'normal' };
}

/**
 * Runs `n` tasks of `domain` to their end. The queue's clock (which writes `started_at`) is set
 * `ranMs` in the past while Redis' own clock ends them, so each ran about `ranMs`: offsets are chosen
 * in the middle of wide buckets, so the few ms the calls take never move a task to another bucket.
 */
async function runTasks(api: TestApi, domain: string, n: number, ranMs: number, end: 'completed' | 'failed' = 'completed'): Promise<void> {
  const clock = new MovableClock(Date.now() - ranMs);
  const queue = new TaskQueue(api.redis, api.keys, { ...queueOptions(api.config, domain, `${domain}-agent`), clock });
  for (let i = 0; i < n; i++) await submitTask(api.redis, api.keys, task(`${domain} task ${i}`, domain));
  let done = 0;
  while (done < n) {
    for (const claimed of await queue.claim(n - done)) {
      const output = end === 'failed' ? { error: 'the worker gave up', failure: { code: FailureCode.workerFailed, retryable: false } } : { summary: 'done' };
      expect(await queue.finish(claimed, { status: end, output, ...(end === 'failed' ? { error: 'the worker gave up' } : {}) })).toBe(true);
      done += 1;
    }
  }
}

describe('metrics and history kept in Redis by the one task-end step', () => {
  let api: TestApi;
  let reader: Record<string, string>;
  beforeAll(async () => {
    api = await startTestApi();
    reader = (await api.key('ops', 'read')).headers;
  });
  afterAll(async () => api.close());

  it('counts ends by domain, status and failure code, run times in buckets, and dead letters, as /metrics shows them', async () => {
    await runTasks(api, 'backend', 3, 45_000);
    await runTasks(api, 'backend', 2, 45_000, 'failed');
    const { taskId } = await submitTask(api.redis, api.keys, task('never runs', 'backend'));
    expect((await cancelTask(api.redis, api.keys, taskId, { reason: 'not wanted', by: 'test', retentionMs: api.config.retentionMs })).kind).toBe('cancelled');
    await api.redis.lpush(api.keys.pending('backend'), 'not json at all');
    await new TaskQueue(api.redis, api.keys, queueOptions(api.config, 'backend', 'backend-agent')).claim(1);

    const counters = await readMetricCounters(api.redis, api.keys);
    expect(counters.tasks).toEqual(expect.arrayContaining([
      { domain: 'backend', status: 'completed', code: '', count: 3 },
      { domain: 'backend', status: 'failed', code: 'worker_failed', count: 2 },
      { domain: 'backend', status: 'failed', code: 'cancelled', count: 1 },
    ]));
    expect(counters.deadLetters).toEqual([{ domain: 'backend', code: 'invalid_task', count: 1 }]);
    const completed = counters.taskDurations.find((d) => d.status === 'completed');
    // 45 s lies in the bucket (30 s, 60 s]; nothing else was counted.
    const bucket = TASK_DURATION_BOUNDS_MS.indexOf(60_000);
    expect(completed?.durations.buckets[bucket]).toBe(3);
    expect(completed?.durations.buckets.reduce((a, b) => a + b, 0)).toBe(3);
    expect(completed?.durations.sumMs).toBeGreaterThanOrEqual(3 * 45_000);

    const scrape = await api.app.inject({ method: 'GET', url: '/metrics', headers: reader });
    expect(scrape.statusCode, scrape.body).toBe(200);
    expect(scrape.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(scrape.body).toContain('dan_tasks_finished_total{domain="backend",status="completed",failure_code=""} 3');
    expect(scrape.body).toContain('dan_tasks_finished_total{domain="backend",status="failed",failure_code="worker_failed"} 2');
    expect(scrape.body).toContain('dan_dead_letters_total{domain="backend",failure_code="invalid_task"} 1');
    expect(scrape.body).toContain('dan_task_duration_seconds_bucket{domain="backend",status="completed",le="30"} 0');
    expect(scrape.body).toContain('dan_task_duration_seconds_bucket{domain="backend",status="completed",le="60"} 3');
    expect(scrape.body).toContain('dan_task_duration_seconds_bucket{domain="backend",status="completed",le="+Inf"} 3');
    expect(scrape.body).toContain('dan_task_duration_seconds_count{domain="backend",status="completed"} 3');
    expect((await api.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
  });

  it('answers GET /history with every bucket of the window, the counts and the p95 of the current one', async () => {
    // 18 tasks of about 45 s and 2 of about 450 s: the 19th of 20 lies in the (300 s, 600 s] bucket,
    // halfway through its two: 300 s + 300 s * 1/2.
    await runTasks(api, 'frontend', 18, 45_000);
    await runTasks(api, 'frontend', 2, 450_000, 'failed');
    const day = await api.app.inject({ method: 'GET', url: '/history?window=24h', headers: reader });
    expect(day.statusCode, day.body).toBe(200);
    const body = day.json() as { window: string; bucket_seconds: number; domains: Record<string, { start: string; completed: number; failed: number; p95_ms: number | null }[]> };
    expect(body).toMatchObject({ window: '24h', bucket_seconds: 3600 });
    const points = body.domains['frontend'] ?? [];
    expect(points).toHaveLength(HISTORY_WINDOWS['24h'].buckets);
    expect(points.at(-1)).toMatchObject({ completed: 18, failed: 2, p95_ms: 450_000 });
    expect(points.slice(0, -1).every((p) => p.completed === 0 && p.failed === 0 && p.p95_ms === null)).toBe(true);
    expect(Date.parse(points.at(-1)?.start ?? '') % 3_600_000).toBe(0);

    const week = (await api.app.inject({ method: 'GET', url: '/history?window=7d', headers: reader })).json() as typeof body;
    expect(week.bucket_seconds).toBe(21_600);
    expect(week.domains['frontend']).toHaveLength(HISTORY_WINDOWS['7d'].buckets);
    expect(week.domains['frontend']?.at(-1)).toMatchObject({ completed: 18, failed: 2, p95_ms: 450_000 });

    const bad = await api.app.inject({ method: 'GET', url: '/history?window=1y', headers: reader });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBeTypeOf('string');
  });

  it('keeps each window in bounded, expiring hashes: one per bucket, a fixed set of fields per domain', async () => {
    await runTasks(api, 'ops', 30, 2_000);
    for (const window of ['24h', '7d'] as const) {
      const hashes = await api.redis.keys(`${api.keys.history(window, '')}*`);
      // Every task of this file ended within a minute: at most two buckets (a boundary crossed).
      expect(hashes.length).toBeGreaterThanOrEqual(1);
      expect(hashes.length).toBeLessThanOrEqual(2);
      for (const key of hashes) {
        const start = Number(key.slice(key.lastIndexOf(':') + 1));
        expect(await api.redis.expiretime(key)).toBe(start + historyKeepS(window));
        const fields = await api.redis.hkeys(key);
        const ops = fields.filter((f) => f.startsWith('ops\t'));
        // completed, failed at most, and one field per duration bucket at most, however many tasks.
        expect(ops.length).toBeLessThanOrEqual(2 + TASK_DURATION_BOUNDS_MS.length + 1);
      }
    }
  });
});
