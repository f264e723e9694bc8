import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../lib/config.js';
import { sleep } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { DockerSpawner } from '../../lib/spawner/docker-spawner.js';
import { freePort, startRedisServer } from '../cli/local-redis.js';
import { runNetwork } from '../main/run-network.js';

/**
 * Measures the Docker spawner on this machine: time from a task's arrival to the new domain
 * container's first heartbeat (cold spawns), and the idle memory of a domain container. Needs a
 * Docker engine and the agent image (`DAN_AGENT_IMAGE`, default dan/agent:local). `--json` for JSON.
 */
async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const spawnRuns = Number(process.env['DAN_MEASURE_SPAWNS'] ?? 10);
  const redisServer = await startRedisServer(await freePort(), silentLogger);
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-measure-docker-'));
  chmodSync(workspace, 0o777);
  const config = loadConfig({ ...process.env, ANTHROPIC_API_KEY: '' }, {
    REDIS_URL: redisServer.url, DAN_WORKSPACE: workspace, DAN_LLM: 'local', DAN_LOG_LEVEL: 'warn', DAN_SUPERVISE_INTERVAL_MS: '50',
    DAN_SPAWNER: 'docker', DAN_DOCKER_NETWORK: 'host', DAN_AGENT_IMAGE: process.env['DAN_AGENT_IMAGE'] ?? 'dan/agent:local',
  });
  const network = await runNetwork({ config, logger: silentLogger, redisUrl: redisServer.url });
  const spawner = network.spawner as DockerSpawner;
  const redis = await connectRedis(redisServer.url);
  const subscriber = await connectRedis(redisServer.url, { blocking: true });
  const keys = new Keys('');
  const watcher = new ResultWatcher(redis, subscriber, keys, 1_000);
  const echo = async (domain: string) => {
    const { taskId } = await submitTask(redis, keys, { domain, description: 'measure', type: 'echo' });
    const result = await watcher.wait(taskId);
    if (result.status !== 'completed') throw new Error(`task ${taskId} ${result.status}: ${result.error ?? ''}`);
  };
  try {
    const before = network.main.supervisor.readyCount;
    for (let i = 0; i < spawnRuns; i++) {
      const domain = i % 2 === 0 ? 'devops' : 'frontend';
      await echo(domain);
      for (let w = 0; w < 200 && network.main.supervisor.readyCount < before + i + 1; w++) await sleep(10);
      for (const agent of spawner.list().filter((a) => a.domain === domain)) await spawner.stop(agent.agentId);
    }
    const spawned = network.main.supervisor.readyCount - before;
    const spawn = network.main.supervisor.readyTimesMs.slice(-spawned).sort((a, b) => a - b);
    await echo('backend');
    await sleep(3_000);
    const idle = spawner.list().find((a) => a.domain === 'backend');
    const memoryMb = idle ? ((await spawner.memoryUsage(idle.agentId)) ?? Number.NaN) / 1024 ** 2 : Number.NaN;
    const rows = {
      docker_spawn_to_first_heartbeat_ms: { runs: spawn.length, median: spawn[Math.floor((spawn.length - 1) / 2)] ?? Number.NaN, worst: spawn.at(-1) ?? Number.NaN },
      idle_domain_container_memory_mb: Math.round(memoryMb * 10) / 10,
      image: config.docker.image,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '?', node: process.version },
    };
    if (json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    } else {
      const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
      process.stdout.write([
        `machine: ${rows.machine.cpus} x ${rows.machine.model}, node ${rows.machine.node}, image ${rows.image}`,
        '| measure | runs | median | worst |',
        '|---|---|---|---|',
        `| task arrival -> first heartbeat, Docker spawner (ms) | ${spawn.length} | ${f(rows.docker_spawn_to_first_heartbeat_ms.median)} | ${f(rows.docker_spawn_to_first_heartbeat_ms.worst)} |`,
        `| idle memory of a domain container after one echo (MB) | 1 | ${f(rows.idle_domain_container_memory_mb)} | |`,
      ].join('\n') + '\n');
    }
  } finally {
    watcher.close();
    subscriber.disconnect();
    redis.disconnect();
    await network.stop();
    await redisServer.stop();
    rmSync(workspace, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`measure: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(error && typeof error === 'object' && 'exitCode' in error ? Number(error.exitCode) : 1);
});
