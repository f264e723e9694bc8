#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../lib/config.js';
import { sleep } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { freePort, startRedisServer } from '../cli/local-redis.js';
import { runNetwork } from '../main/run-network.js';

/**
 * The figures the core issue asks for, measured on this machine: send-to-completed latency of an
 * echo task and of a single-worker task on the local model server, idle resident memory of the main
 * orchestrator and of a domain process, and spawn-to-first-heartbeat time. Prints one table; `--json`
 * prints the same as JSON. Runs on a private Redis; nothing to set up.
 */

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const echoRuns = Number(process.env['DAN_MEASURE_ECHO'] ?? 300);
  const workerRuns = Number(process.env['DAN_MEASURE_WORKER'] ?? 50);
  const spawnRuns = Number(process.env['DAN_MEASURE_SPAWNS'] ?? 10);
  const redisServer = await startRedisServer(await freePort(), silentLogger);
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-measure-'));
  const config = loadConfig({ ...process.env, ANTHROPIC_API_KEY: '' }, {
    REDIS_URL: redisServer.url, DAN_WORKSPACE: workspace, DAN_LLM: 'local', DAN_LOG_LEVEL: 'warn', DAN_SUPERVISE_INTERVAL_MS: '50',
  });
  const network = await runNetwork({ config, logger: silentLogger, redisUrl: redisServer.url });
  const redis = await connectRedis(redisServer.url);
  const subscriber = await connectRedis(redisServer.url, { blocking: true });
  const keys = new Keys('');
  const watcher = new ResultWatcher(redis, subscriber, keys, 1_000);
  const timeOne = async (domain: string, description: string, type?: string): Promise<number> => {
    const started = performance.now();
    const { taskId } = await submitTask(redis, keys, { domain, description, ...(type ? { type } : {}) });
    const result = await watcher.wait(taskId);
    if (result.status !== 'completed') throw new Error(`task ${taskId} ${result.status}: ${result.error ?? ''}`);
    return performance.now() - started;
  };
  try {
    await timeOne('backend', 'warm up', 'echo');
    const echo: number[] = [];
    await redis.config('RESETSTAT');
    for (let i = 0; i < echoRuns; i++) echo.push(await timeOne('backend', `echo ${i}`, 'echo'));
    // Every command Redis ran meanwhile (scripts' inner commands included), heartbeats and the
    // supervisor's ticks too, over the tasks: an upper bound of the cost of one direct echo task.
    const stats = await redis.info('commandstats');
    const commands = [...stats.matchAll(/calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    const commandsPerTask = Math.round((commands / echoRuns) * 10) / 10;
    const worker: number[] = [];
    for (let i = 0; i < workerRuns; i++) worker.push(await timeOne('backend', `Create a health endpoint number ${i}`));
    await sleep(3_000);
    const pidOf = async (domain: string) => {
      const id = (await redis.smembers(keys.agentsOfDomain(domain)))[0];
      return id ? Number(await redis.hget(keys.agentInfo(id), 'pid')) : Number.NaN;
    };
    // A domain that has served one echo and sits idle, and the busy-then-idle backend.
    await timeOne('devops', 'wake up', 'echo');
    await sleep(3_000);
    const memory = { main_rss_mb: rssMb(process.pid), domain_rss_mb: rssMb(await pidOf('devops')), domain_after_work_rss_mb: rssMb(await pidOf('backend')) };
    for (const domain of ['devops']) {
      const pid = await pidOf(domain);
      if (pid > 0) process.kill(pid, 'SIGTERM');
      while ((await redis.scard(keys.agentsOfDomain(domain))) > 0) await sleep(20);
    }

    // Spawn-to-heartbeat: each round uses a domain that has no agent yet (devops, then frontend,
    // then stops them), so every round is a cold spawn.
    const before = network.main.supervisor.readyCount;
    for (let i = 0; i < spawnRuns; i++) {
      const domain = i % 2 === 0 ? 'devops' : 'frontend';
      await timeOne(domain, `spawn round ${i}`, 'echo');
      // Let the supervisor see the heartbeat (it polls every 25 ms) before this agent goes away.
      const seen = before + i + 1;
      for (let w = 0; w < 100 && network.main.supervisor.readyCount < seen; w++) await sleep(10);
      for (const id of await redis.smembers(keys.agentsOfDomain(domain))) {
        const pid = Number(await redis.hget(keys.agentInfo(id), 'pid'));
        if (pid > 0) process.kill(pid, 'SIGTERM');
      }
      while ((await redis.scard(keys.agentsOfDomain(domain))) > 0) await sleep(20);
    }
    const spawned = network.main.supervisor.readyCount - before;
    const spawn = (spawned > 0 ? network.main.supervisor.readyTimesMs.slice(-spawned) : []).sort((a, b) => a - b);
    const sortedEcho = [...echo].sort((a, b) => a - b);
    const sortedWorker = [...worker].sort((a, b) => a - b);
    const rows = {
      echo_send_to_completed_ms: { runs: echo.length, median: percentile(sortedEcho, 50), p99: percentile(sortedEcho, 99) },
      redis_commands_per_echo_task: commandsPerTask,
      single_worker_send_to_completed_ms: { runs: worker.length, median: percentile(sortedWorker, 50), p99: percentile(sortedWorker, 99) },
      spawn_to_first_heartbeat_ms: { runs: spawn.length, median: percentile(spawn, 50), worst: spawn.at(-1) ?? Number.NaN },
      idle_memory: memory,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '?', node: process.version },
    };
    if (json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    } else {
      const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
      process.stdout.write([
        `machine: ${rows.machine.cpus} x ${rows.machine.model}, node ${rows.machine.node}`,
        '| measure | runs | median | p99 / worst |',
        '|---|---|---|---|',
        `| send -> completed, echo task to a domain (ms) | ${echo.length} | ${f(rows.echo_send_to_completed_ms.median)} | ${f(rows.echo_send_to_completed_ms.p99)} |`,
        `| Redis commands per direct echo task, sent one at a time (all commands / tasks) | ${echo.length} | ${f(commandsPerTask)} | |`,
        `| send -> completed, single-worker task, local model (ms) | ${worker.length} | ${f(rows.single_worker_send_to_completed_ms.median)} | ${f(rows.single_worker_send_to_completed_ms.p99)} |`,
        `| spawn -> first heartbeat, process spawner (ms) | ${spawn.length} | ${f(rows.spawn_to_first_heartbeat_ms.median)} | ${f(rows.spawn_to_first_heartbeat_ms.worst)} |`,
        `| idle resident memory, main orchestrator process (MB) | 1 | ${f(memory.main_rss_mb)} | |`,
        `| idle resident memory, domain process after one echo (MB) | 1 | ${f(memory.domain_rss_mb)} | |`,
        `| idle resident memory, domain process after ${workerRuns} worker tasks (MB) | 1 | ${f(memory.domain_after_work_rss_mb)} | |`,
      ].join('\n') + '\n');
    }
  } finally {
    watcher.close();
    subscriber.disconnect();
    redis.disconnect();
    await network.stop();
    await redisServer.stop();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`measure: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
