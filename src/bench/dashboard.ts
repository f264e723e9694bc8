import type { Request } from 'playwright-core';
import { sleep } from '../../lib/clock.js';
import { ApiKeys } from '../../lib/redis/api-keys.js';
import { Keys } from '../../lib/redis/keys.js';
import { appendLog, submitTask } from '../../lib/redis/task-store.js';
import { serveOptions } from './api.js';
import { startDanServe } from './start-dan-serve.js';
import { round, spread } from './bench-kit.js';
import type { BenchEnv } from './bench-network.js';
import { browserProblem, launchChromium } from './chromium.js';

export type DashboardResult = {
  tasks: number;
  log_lines: number;
  /** From navigation to the queue and agent tables drawn, median of `runs` loads (ms). */
  overview_ms: number;
  /** From navigation to every one of `log_lines` lines shown on a task's page, median of `runs` loads (ms). */
  task_page_ms: number;
  runs: number;
  /** The page's own files as sent (gzip), and their sizes before compression (KB). */
  assets_gzip_kb: number;
  assets_raw_kb: number;
  /** From appendLog returning to the line in the open page, median and worst of `latency_lines` (ms). */
  log_latency_median_ms: number;
  log_latency_max_ms: number;
  latency_lines: number;
} | { skipped: string };

const LOG_LINES = 1_000;
const LATENCY_LINES = 100;
const RUNS = 5;

/**
 * The dashboard's goals in headless Chromium against a `dan serve` child: the overview and a task
 * page with 1,000 log lines render with `tasks` tasks in Redis; the page's files' compressed size; a
 * log line's way from being written (the agents' appendLog) to shown, over 100 lines, one at a time.
 */
export async function measureDashboard(env: BenchEnv, tasks: number): Promise<DashboardResult> {
  const problem = browserProblem();
  if (problem) return { skipped: problem };
  const prefix = `bench-dashboard-${process.pid}:`;
  const keys = new Keys(prefix);
  const { key } = await new ApiKeys(env.redis, keys).create('bench', 'read');
  const client = { client_id: 'bench' };
  env.progress(`dashboard: ${tasks} tasks into Redis`);
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < tasks) {
      next += 1;
      await submitTask(env.redis, keys, { domain: 'backend', description: `bench task ${next}`, type: 'task_assignment', source: 'bench', extraMetadata: client });
    }
  }));
  const { taskId } = await submitTask(env.redis, keys, { domain: 'backend', description: 'the task with the long log', type: 'task_assignment', source: 'bench', extraMetadata: client });
  for (let i = 0; i < LOG_LINES; i++) await appendLog(env.redis, keys, { taskId, agentId: 'backend-bench', domain: 'backend', message: `line ${i} of the bench log, about as long as a worker's usual line` });

  const serve = await startDanServe(serveOptions(env, prefix, tasks * 2));
  const browser = await launchChromium();
  try {
    // The key as the sign-in form leaves it: in the tab's sessionStorage.
    await browser.context.addInitScript(`sessionStorage.setItem('dan-api-key', ${JSON.stringify(key)})`);
    const page = await browser.context.newPage();
    // The page's own files as the first load received them: encoded (gzip) and decoded sizes.
    const sizes = new Map<string, { encoded: number; raw: number }>();
    const reading: Promise<void>[] = [];
    const onFinished = (request: Request) => {
      const url = new URL(request.url());
      if (url.pathname !== '/' && !url.pathname.startsWith('/ui/')) return;
      reading.push((async () => {
        const sent = await request.sizes();
        const body = await (await request.response())?.body();
        sizes.set(url.pathname, { encoded: sent.responseBodySize, raw: body?.length ?? 0 });
      })().catch((error: unknown) => { throw new Error(`bench: could not read the size of ${url.pathname}: ${String(error)}`); }));
    };
    page.on('requestfinished', onFinished);
    const overview: number[] = [];
    const taskPage: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // A query of its own per load: a new document each time, not a hash change within the last one.
      await page.goto(`${serve.url}/?load=${run}#/`, { waitUntil: 'commit' });
      // Locators, not waitForFunction: the page's CSP refuses the eval a string predicate needs.
      // The overview's last line is written once both its tables (or their notices) are drawn.
      await page.getByText(/^Updated .*; refreshes every 5 s\.$/).waitFor();
      overview.push(await page.evaluate<number>('performance.now()'));
      if (run === 0) {
        page.off('requestfinished', onFinished);
        await Promise.all(reading);
      }
      await page.goto(`${serve.url}/?load=${run}#/task/${encodeURIComponent(taskId)}`, { waitUntil: 'commit' });
      await page.locator('ol.log li').nth(LOG_LINES - 1).waitFor();
      taskPage.push(await page.evaluate<number>('performance.now()'));
    }
    // Each line's arrival time in the page, by its text, on the same clock as the writer's (one machine).
    // Strings, evaluated in the page: this program is compiled without the DOM's types.
    await page.evaluate(`(() => {
      window.seen = {};
      new MutationObserver((records) => {
        for (const r of records) for (const node of r.addedNodes) {
          const match = /latency-(\\d+)$/.exec(node.textContent || '');
          if (match) window.seen[match[1]] = Date.now();
        }
      }).observe(document.querySelector('ol.log'), { childList: true });
    })()`);
    env.progress(`dashboard: ${LATENCY_LINES} log lines, one at a time, write to shown`);
    const written: number[] = [];
    for (let i = 0; i < LATENCY_LINES; i++) {
      await appendLog(env.redis, keys, { taskId, agentId: 'backend-bench', domain: 'backend', message: `latency-${i}` });
      written.push(Date.now());
      await page.locator('ol.log li', { hasText: new RegExp(`latency-${i}$`) }).waitFor();
      // 20 ms: lines one at a time, as a worker writes them, not a burst the stream sends together.
      await sleep(20);
    }
    const seen = await page.evaluate<Record<string, number>>('window.seen');
    const latencies = spread(written.map((at, i) => (seen[String(i)] ?? Number.NaN) - at));
    const assets = [...sizes.values()];
    return {
      tasks, log_lines: LOG_LINES, runs: RUNS,
      overview_ms: spread(overview).p50, task_page_ms: spread(taskPage).p50,
      assets_gzip_kb: round(assets.reduce((n, a) => n + a.encoded, 0) / 1024), assets_raw_kb: round(assets.reduce((n, a) => n + a.raw, 0) / 1024),
      log_latency_median_ms: latencies.p50, log_latency_max_ms: latencies.worst, latency_lines: LATENCY_LINES,
    };
  } finally {
    await browser.close();
    const exited = new Promise((resolve) => serve.child.once('exit', resolve));
    if (serve.child.exitCode === null && serve.child.signalCode === null) {
      serve.child.kill('SIGTERM');
      await exited;
    }
    for await (const found of env.redis.scanStream({ match: `${prefix}*`, count: 1_000 })) {
      const names = found as string[];
      if (names.length > 0) await env.redis.unlink(...names);
    }
  }
}
