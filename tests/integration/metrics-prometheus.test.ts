import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, packageRoot } from '../../lib/config.js';
import { FailureCode } from '../../lib/protocol/failure.js';
import { ApiKeys } from '../../lib/redis/api-keys.js';
import { Keys } from '../../lib/redis/keys.js';
import { recordModelCall, recordSpawn } from '../../lib/redis/task-metrics.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { submitTask, type SubmitInput } from '../../lib/redis/task-store.js';
import { startDanServe } from '../../src/bench/start-dan-serve.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { freePort } from '../../src/cli/local-redis.js';
import { until } from '../support/until.js';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const missing = !existsSync(PROMETHEUS) || !existsSync(PROMTOOL);
if (missing) console.warn(`skipping the Prometheus tests: ${PROMETHEUS} or ${PROMTOOL} is missing (apt-get install prometheus)`);

function task(description: string, domain: string): SubmitInput {
  return { domain, description, type: 'task_assignment', source: 'test', requirements: [], context: {}, priority: 'normal' };
}

/** `dan serve` scraped by a real Prometheus (Debian's), with a key of role metrics (the scrape credential) in a credentials file. */
describe.skipIf(missing)('GET /metrics scraped by Prometheus', () => {
  const prefix = uniquePrefix('prom');
  const keys = new Keys(prefix);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-prometheus-'));
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let api: Awaited<ReturnType<typeof startDanServe>>;
  let key: string;
  let prometheus: ChildProcess | undefined;
  let prometheusUrl: string;

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    key = (await new ApiKeys(redis, keys).create('ops', 'metrics')).key;
    api = await startDanServe({ env: { ...process.env, REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_LOG_LEVEL: 'warn' } });
    const keyFile = path.join(dir, 'dan-key');
    writeFileSync(keyFile, key, { mode: 0o600 });
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    writeFileSync(path.join(dir, 'prometheus.yml'), [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: dan',
      '    metrics_path: /metrics',
      '    authorization:',
      '      type: Bearer',
      `      credentials_file: ${keyFile}`,
      '    static_configs:',
      `      - targets: ['${new URL(api.url).host}']`,
      '',
    ].join('\n'));
    prometheus = spawn(PROMETHEUS, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
    ], { stdio: 'ignore' });
  }, 60_000);

  afterAll(async () => {
    if (prometheus?.pid !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    api?.child.kill('SIGTERM');
    await api?.stopped;
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The value of a PromQL query's single sample, through Prometheus' HTTP API. */
  async function query(promql: string): Promise<string | undefined> {
    const answer = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await answer.json()) as { status: string; data: { result: { value: [number, string] }[] } };
    return body.status === 'success' ? body.data.result[0]?.value[1] : undefined;
  }

  it("reports the backlog of a domain with no agent as the number of tasks queued to it", async () => {
    const queued = 7;
    for (let i = 0; i < queued; i++) await submitTask(redis, keys, task(`waits for an agent ${i}`, 'backend'));
    await until('Prometheus to scrape dan serve', async () => (await query('up{job="dan"}')) === '1', 120_000);
    const backlog = 'sum(dan_queue_tasks{domain="backend",state=~"pending|ready|delayed"})';
    const seen = await until(`the backlog of backend to be ${queued}`, async () => {
      const value = await query(backlog);
      return value === String(queued) ? value : undefined;
    }, 120_000);
    expect(seen).toBe(String(queued));
    // The example alert of the README: a backlog and no live agent for the domain.
    const alert = 'sum by (domain) (dan_queue_tasks{state=~"pending|ready|delayed"}) > 0 unless on (domain) sum by (domain) (dan_agents{role="domain"}) > 0';
    const firing = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(alert)}`);
    const result = ((await firing.json()) as { data: { result: { metric: { domain: string } }[] } }).data.result;
    expect(result.map((r) => r.metric.domain)).toContain('backend');
  });

  it('passes promtool check metrics, with every kind of metric present', async () => {
    const clock = { now: () => Date.now() - 3_000 };
    const queue = new TaskQueue(redis, keys, { ...queueOptions(loadConfig({}), 'devops', 'devops-agent'), clock });
    await submitTask(redis, keys, task('ends well', 'devops'));
    await submitTask(redis, keys, task('ends badly', 'devops'));
    const [one, two] = await queue.claim(2);
    if (!one || !two) throw new Error('two tasks were queued to devops, and fewer could be claimed');
    await queue.finish(one, { status: 'completed', output: { summary: 'done' } });
    await queue.finish(two, { status: 'failed', output: { failure: { code: FailureCode.maxTurns, retryable: false } }, error: 'out of turns' });
    await redis.lpush(keys.pending('devops'), '{"not": "a task"');
    await queue.claim(1);
    await recordSpawn(redis, keys, 'devops', 'started');
    await recordSpawn(redis, keys, 'devops', 'failed');
    await recordModelCall(redis, keys, { model: 'claude-sonnet-5-5', status: '200', durationMs: 1_500, tokens: { input: 120, output: 30, cache_read_input: 7 } });

    const scrape = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
    expect(scrape.status).toBe(200);
    const text = await scrape.text();
    for (const family of ['dan_queue_tasks', 'dan_queue_ready_tasks', 'dan_tasks_finished_total', 'dan_task_duration_seconds_bucket', 'dan_dead_letters_total',
      'dan_agent_spawns_total', 'dan_agent_spawn_failures_total', 'dan_model_calls_total', 'dan_model_tokens_total', 'dan_model_call_duration_seconds_bucket']) {
      expect(text, family).toMatch(new RegExp(`^${family}\\{`, 'm'));
    }
    const check = await runProcess(PROMTOOL, ['check', 'metrics'], { input: text });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.code).toBe(0);
    // promtool can fail: a counter without _total is a problem it reports.
    const broken = await runProcess(PROMTOOL, ['check', 'metrics'], { input: '# HELP dan_things Things\n# TYPE dan_things counter\ndan_things 1\n' });
    expect(broken.code).not.toBe(0);
  });

  it("the README's alert rule passes promtool check rules", async () => {
    const readme = readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
    const rules = /```yaml\n(groups:\n[\s\S]*?)```/.exec(readme)?.[1];
    expect(rules).toContain('DanBacklogWithoutAgent');
    const file = path.join(dir, 'rules.yml');
    writeFileSync(file, rules ?? '');
    const check = await runProcess(PROMTOOL, ['check', 'rules', file]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('SUCCESS: 1 rules found');
  });

  it('refuses a scrape without a key, and with a read key of a client: metrics are the operators\' data', async () => {
    const refused = await fetch(`${api.url}/metrics`);
    expect(refused.status).toBe(401);
    const reader = (await new ApiKeys(redis, keys).create('acme', 'read')).key;
    const forbidden = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${reader}` } });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'forbidden', message: expect.stringContaining('role admin or metrics') });
    // The scrape credential reads /metrics and nothing else: not a job list, not the dashboard's session.
    for (const url of ['/jobs', '/whoami', '/history']) {
      expect((await fetch(`${api.url}${url}`, { headers: { authorization: `Bearer ${key}` } })).status, url).toBe(403);
    }
  });
});
