import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailureCode } from '../../lib/protocol/failure.js';
import { HISTORY_KEEP_S, HISTORY_WINDOWS, TASK_DURATION_BOUNDS_MS } from '../../lib/redis/metric-buckets.js';
import { readMetricCounters } from '../../lib/redis/task-metrics.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { cancelTask } from '../../lib/redis/cancel-task.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';
import { MovableClock } from '../support/movable-clock.js';

function task(description: string, domain: string, client?: string): SubmitInput {
  return {
    domain, description, type: 'task_assignment', source: 'test', requirements: [], context: {}, priority: 'normal',
    ...(client ? { extraMetadata: { client_id: client } } : {}),
  };
}

/**
 * Runs `n` tasks of `domain` to their end, each about `ranMs` long: the queue's clock (which writes
 * `started_at` and the time of the end) is set `ranMs` back for the claim and to `endAt` (default now)
 * for the finish.
 * Offsets are chosen in the middle of wide buckets, so the few ms the calls take never move a task to
 * another bucket.
 */
async function runTasks(api: TestApi, domain: string, n: number, ranMs: number, end: 'completed' | 'failed' = 'completed', endAt?: number, client?: string): Promise<void> {
  const clock = new MovableClock(Date.now());
  const queue = new TaskQueue(api.redis, api.keys, { ...queueOptions(api.config, domain, `${domain}-agent`), clock });
  for (let i = 0; i < n; i++) await submitTask(api.redis, api.keys, task(`${domain} task ${i}`, domain, client));
  let done = 0;
  while (done < n) {
    clock.t = (endAt ?? Date.now()) - ranMs;
    const claimed = await queue.claim(n - done);
    clock.t = endAt ?? Date.now();
    for (const one of claimed) {
      const output = end === 'failed' ? { error: 'the worker gave up', failure: { code: FailureCode.workerFailed, retryable: false } } : { summary: 'done' };
      expect(await queue.finish(one, { status: end, output, ...(end === 'failed' ? { error: 'the worker gave up' } : {}) })).toBe(true);
      done += 1;
    }
  }
}

describe('metrics and history kept in Redis by the one task-end step', () => {
  let api: TestApi;
  let reader: Record<string, string>;
  let scraper: Record<string, string>;
  beforeAll(async () => {
    api = await startTestApi();
    reader = (await api.key('ops', 'read')).headers;
    scraper = (await api.key('ops', 'metrics')).headers;
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

    const scrape = await api.app.inject({ method: 'GET', url: '/metrics', headers: scraper });
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
    // Every client's backlogs and counts: a client's read key may not see them.
    expect((await api.app.inject({ method: 'GET', url: '/metrics', headers: reader })).statusCode).toBe(403);
    const openapi = (await api.app.inject({ method: 'GET', url: '/openapi.json', headers: reader })).json() as { paths: Record<string, { get?: { responses: Record<string, unknown> } }> };
    expect(Object.keys(openapi.paths['/metrics']?.get?.responses ?? {})).toEqual(expect.arrayContaining(['200', '401', '403']));
    expect(Object.keys(openapi.paths['/history']?.get?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400', '401']));
  });

  it("answers GET /history with every bucket of the window, the counts and the p95 of the caller's client's tasks", async () => {
    // Ended half an hour into the previous hour (the time of an end is its agent's): its bucket is
    // found by its start, whatever hour the test runs in.
    const endAt = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 1_800_000;
    // The reader's client, ops: 18 tasks of about 45 s and 2 of about 450 s: the 19th of 20 lies in the
    // (300 s, 600 s] bucket, halfway through its two: 300 s + 300 s * 1/2. Another client's 5 are not its.
    await runTasks(api, 'frontend', 18, 45_000, 'completed', endAt, 'ops');
    await runTasks(api, 'frontend', 2, 450_000, 'failed', endAt, 'ops');
    await runTasks(api, 'frontend', 5, 45_000, 'completed', endAt, 'acme');
    const day = await api.app.inject({ method: 'GET', url: '/history?window=24h', headers: reader });
    expect(day.statusCode, day.body).toBe(200);
    const body = day.json() as { window: string; bucket_seconds: number; domains: Record<string, { start: string; completed: number; failed: number; p95_ms: number | null }[]> };
    expect(body).toMatchObject({ window: '24h', bucket_seconds: 3600 });
    // backend and ops ended tasks of the default client (the test above): not ops's.
    expect(Object.keys(body.domains)).toEqual(['frontend']);
    const points = body.domains['frontend'] ?? [];
    expect(points).toHaveLength(HISTORY_WINDOWS['24h'].buckets);
    const hour = new Date(Math.floor(endAt / 3_600_000) * 3_600_000).toISOString();
    expect(points.find((p) => p.start === hour)).toEqual({ start: hour, completed: 18, failed: 2, p95_ms: 450_000 });
    expect(points.filter((p) => p.start !== hour).every((p) => p.completed === 0 && p.failed === 0 && p.p95_ms === null)).toBe(true);
    expect(points.every((p, i) => i === 0 || Date.parse(p.start) - Date.parse(points[i - 1]?.start ?? '') === 3_600_000)).toBe(true);

    const week = (await api.app.inject({ method: 'GET', url: '/history?window=7d', headers: reader })).json() as typeof body;
    expect(week.bucket_seconds).toBe(21_600);
    expect(week.domains['frontend']).toHaveLength(HISTORY_WINDOWS['7d'].buckets);
    const quarter = new Date(Math.floor(endAt / 21_600_000) * 21_600_000).toISOString();
    expect(week.domains['frontend']?.find((p) => p.start === quarter)).toEqual({ start: quarter, completed: 18, failed: 2, p95_ms: 450_000 });

    // An admin key sees every client's: 23 of about 45 s and 2 of about 450 s, the 23.75th of 25 three
    // quarters through the upper bucket's two.
    const admin = (await api.key('ops', 'admin')).headers;
    const all = (await api.app.inject({ method: 'GET', url: '/history?window=24h', headers: admin })).json() as typeof body;
    expect(all.domains['frontend']?.find((p) => p.start === hour)).toEqual({ start: hour, completed: 23, failed: 2, p95_ms: 412_500 });
    expect(Object.keys(all.domains).sort()).toEqual(['backend', 'frontend']);
    const acme = (await api.app.inject({ method: 'GET', url: '/history', headers: (await api.key('acme', 'read')).headers })).json() as typeof body;
    expect(acme.domains['frontend']?.find((p) => p.start === hour)).toMatchObject({ completed: 5, failed: 0 });

    const bad = await api.app.inject({ method: 'GET', url: '/history?window=1y', headers: reader });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('invalid_input');
  });

  it('keeps history in bounded, expiring hashes: one per hour, a fixed set of fields per domain', async () => {
    await runTasks(api, 'ops', 30, 2_000);
    const hashes = await api.redis.keys(`${api.keys.history('')}*`);
    // This file's tasks ended in the previous hour (the test above) and now: two hours' hashes, three
    // if an hour began meanwhile.
    expect(hashes.length).toBeGreaterThanOrEqual(2);
    expect(hashes.length).toBeLessThanOrEqual(3);
    let opsFields = 0;
    for (const key of hashes) {
      const start = Number(key.slice(key.lastIndexOf(':') + 1));
      expect(start % 3_600).toBe(0);
      expect(await api.redis.expiretime(key)).toBe(start + HISTORY_KEEP_S);
      const ops = (await api.redis.hkeys(key)).filter((f) => f.startsWith('ops\tdefault\t'));
      // Per domain and client: completed, failed at most, and one field per duration bucket at most, however many tasks.
      expect(ops.length).toBeLessThanOrEqual(2 + TASK_DURATION_BOUNDS_MS.length + 1);
      opsFields += ops.length;
    }
    // 30 tasks of one status and one duration bucket: two fields, in one hour or split over two.
    expect(opsFields).toBeGreaterThanOrEqual(2);
    expect(opsFields).toBeLessThanOrEqual(4);
  });
});
