import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, packageRoot } from '../../lib/config.js';
import { ApiKeys } from '../../lib/redis/api-keys.js';
import { Keys } from '../../lib/redis/keys.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { freePort } from '../../src/cli/local-redis.js';
import { startDanServe } from '../../src/bench/start-dan-serve.js';
import { KUBERNETES_DIR, scaledObjectQuery } from '../support/kubernetes-manifests.js';
import { prometheusMissing, startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const missing = prometheusMissing();
if (missing) console.warn(`skipping the KEDA scaling query test: ${missing}`);

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');

/**
 * The PromQL of deploy/kubernetes/domains/*.yaml's ScaledObjects, read from the committed files, run
 * by a real Prometheus that scrapes what the manifests have it scrape: the main orchestrator in
 * external mode on its /metrics port, plus `dan serve`, so that two targets export the same counts.
 * No cluster and no KEDA here: this checks the number KEDA would be given, not what KEDA does with it.
 */
describe.skipIf(missing !== undefined)("the KEDA ScaledObjects' query on a real Prometheus", () => {
  const prefix = uniquePrefix('k8s-scaling');
  const keys = new Keys(prefix);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-k8s-scaling-'));
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_LLM: 'local', DAN_LOG_LEVEL: 'warn' };
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let up: ChildProcess | undefined;
  let upExited: Promise<number | null> | undefined;
  let api: Awaited<ReturnType<typeof startDanServe>> | undefined;
  let prometheus: RunningPrometheus | undefined;

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    const metricsPort = await freePort();
    up = spawn(process.execPath, [bin, 'up', '--no-start-redis', '--spawner', 'external', '--metrics-port', String(metricsPort)], { env, stdio: 'ignore' });
    upExited = new Promise((resolve) => up?.once('exit', (code) => resolve(code)));
    api = await startDanServe({ env: { ...env } });
    const keyFile = path.join(dir, 'dan-key');
    writeFileSync(keyFile, (await new ApiKeys(redis, keys).create('ops', 'metrics')).key, { mode: 0o600 });
    prometheus = await startPrometheus(dir, [
      { job: 'dan-main', target: `127.0.0.1:${metricsPort}` },
      { job: 'dan-api', target: new URL(api.url).host, credentialsFile: keyFile },
    ]);
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    if (up?.exitCode === null) {
      up.kill('SIGTERM');
      await upExited;
    }
    api?.child.kill('SIGTERM');
    await api?.stopped;
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  async function scaledValue(domain: string, expected: string): Promise<string> {
    const promql = scaledObjectQuery(domain);
    return until(`${promql} to be ${expected}`, async () => {
      const value = await prometheus?.query(promql);
      return value === expected ? value : undefined;
    }, 120_000);
  }

  it('answers the number of tasks queued to a domain with no agent, once, though two targets export it', async () => {
    await until('Prometheus to scrape main and dan serve', async () => (await prometheus?.query('sum(up{job=~"dan-main|dan-api"})')) === '2', 120_000);
    const queued = 6;
    for (let i = 0; i < queued; i++) {
      await submitTask(redis, keys, { domain: 'backend', description: `waits for a pod ${i}`, type: 'task_assignment', source: 'test', requirements: [], context: {}, priority: 'normal' });
    }
    // Both targets export it, once each has scraped the tasks: added up, they read twice the backlog.
    const twice = 'sum(dan_queue_tasks{domain="backend",state="pending"})';
    await until(`${twice} to be ${queued * 2}`, async () => (await prometheus?.query(twice)) === String(queued * 2), 120_000);
    expect(await scaledValue('backend', String(queued))).toBe(String(queued));
    // A domain with nothing to do reads 0 (not an empty answer, which the trigger treats as an error).
    expect(await scaledValue('frontend', '0')).toBe('0');
  });

  it('keeps counting tasks once an agent runs them, so busy replicas are not scaled away', async () => {
    const queue = new TaskQueue(redis, keys, queueOptions(loadConfig({}), 'backend', 'backend-k8s-test'));
    const claimed = await queue.claim(2);
    expect(claimed).toHaveLength(2);
    await until('Prometheus to see two backend tasks running', async () => (await prometheus?.query('max(dan_queue_tasks{domain="backend",state="running"})')) === '2', 120_000);
    expect(await scaledValue('backend', '6')).toBe('6');
  });

  it('dan deploy k8s --check passes on the committed files, and names a file that differs', async () => {
    const ok = await runProcess(process.execPath, [bin, 'deploy', 'k8s', '--check', '--out', KUBERNETES_DIR], { env: { PATH: process.env['PATH'], HOME: process.env['HOME'] } });
    expect(ok.code, ok.stderr).toBe(0);
    const copy = path.join(dir, 'kubernetes');
    cpSync(KUBERNETES_DIR, copy, { recursive: true });
    appendFileSync(path.join(copy, 'domains', 'devops.yaml'), '# edited by hand\n');
    const stale = await runProcess(process.execPath, [bin, 'deploy', 'k8s', '--check', '--out', copy], { env: { PATH: process.env['PATH'], HOME: process.env['HOME'] } });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain(path.join(copy, 'domains', 'devops.yaml'));
    expect(stale.stderr).not.toContain('backend.yaml');
  });
});
