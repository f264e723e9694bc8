import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, packageRoot } from '../../lib/config.js';
import { Keys } from '../../lib/redis/keys.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { freePort } from '../../src/cli/local-redis.js';
import { until } from '../support/until.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');

/** The main orchestrator's own /metrics port, for networks without `dan serve`. */
describe('dan up --metrics-port', () => {
  const prefix = uniquePrefix('metrics-port');
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_LLM: 'local', DAN_LOG_LEVEL: 'warn' };
  let up: ChildProcess;
  let exited: Promise<number | null>;
  let port: number;
  let cleanup: () => Promise<void>;
  let redis: Awaited<ReturnType<typeof connectTestRedis>>['redis'];

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    port = await freePort();
    up = spawn(process.execPath, [bin, 'up', '--no-start-redis', '--metrics-port', String(port)], { env, stdio: 'ignore' });
    exited = new Promise((resolve) => up.once('exit', (code) => resolve(code)));
  }, 30_000);

  afterAll(async () => {
    if (up.exitCode === null) {
      up.kill('SIGTERM');
      await exited;
    }
    await cleanup();
  });

  it('is off unless asked for, and on loopback when asked for', () => {
    expect(loadConfig({}).metrics).toEqual({ port: 0, host: '127.0.0.1' });
    expect(() => loadConfig({ DAN_METRICS_PORT: 'ninety' })).toThrow(/DAN_METRICS_PORT/);
  });

  it("serves the network's metrics without dan serve: the main agent, its heartbeat and a domain's dead letters", async () => {
    const url = `http://127.0.0.1:${port}/metrics`;
    await redis.lpush(new Keys(prefix).dead('devops'), '{"left": "by a test"}');
    const text = await until('the main orchestrator to list itself on its metrics port', async () => {
      const answer = await fetch(url);
      const body = await answer.text();
      return answer.status === 200 && /^dan_agents\{domain="[^"]*",role="main"\} 1$/m.test(body) ? body : undefined;
    }, 60_000);
    expect(text).toMatch(/^dan_agent_heartbeat_age_seconds\{agent_id="main-[^"]+",domain="[^"]*",role="main"\} \d/m);
    expect(text).toMatch(/^dan_queue_tasks\{domain="main",state="pending"\} \d+$/m);
    expect(text).toMatch(/^dan_queue_tasks\{domain="devops",state="dead_lettered"\} 1$/m);
    expect(text).toMatch(/^# TYPE dan_tasks_finished_total counter$/m);
    const other = await fetch(`http://127.0.0.1:${port}/agents`);
    expect(other.status).toBe(404);
  });

  it('refuses a port in use, naming the setting to change, and exits 2 before starting the main orchestrator', async () => {
    const busy = uniquePrefix('metrics-port-busy');
    const run = await runProcess(process.execPath, [bin, 'up', '--no-start-redis', '--metrics-port', String(port)], {
      env: { ...env, DAN_KEY_PREFIX: busy }, timeoutMs: 60_000,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/port \d+ on 127\.0\.0\.1 is in use: set DAN_METRICS_PORT/);
    expect(await redis.keys(`${busy}*`)).toEqual([]);
  });

  it('lists --metrics-port in dan up --help', async () => {
    const help = await runProcess(process.execPath, [bin, 'up', '--help'], { env });
    expect(help.stdout).toContain('--metrics-port');
  });
});
