#!/usr/bin/env node
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../lib/logger.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { freePort, startRedisServer } from '../cli/local-redis.js';
import { round } from './bench-kit.js';
import type { BenchEnv } from './bench-network.js';
import { startBenchNetwork } from './bench-network.js';
import type { BenchResults } from './bench-report.js';
import { describeMachine, formatTable, rows } from './bench-report.js';
import { measureApi } from './api.js';
import { measureBudgets } from './budgets.js';
import { measureDashboard } from './dashboard.js';
import { measureMetricsScrape } from './metrics-scrape.js';
import { measureModelPath } from './model-path.js';
import { bytesPerPendingTask, measureCeiling } from './redis-capacity.js';
import { measureRecovery } from './recovery.js';
import { measureScale } from './scale.js';
import { measureCache, measureRateLimit } from './rate-limit.js';
import { measureCapacity } from './capacity.js';
import { measureSentinel } from './sentinel.js';
import { measureVerification } from './verification.js';
import { measureWorkflow } from './workflow.js';
import { dockerStatus, measureDockerSpawn, measureIdleMemory, measureNodeStart, measureProcessSpawn, measureSwarmSpawn } from './spawning.js';
import { coreSettings, measureLatency, measureThroughput } from './throughput.js';

const SCENARIOS = ['throughput', 'latency', 'redis-cost', 'ceiling', 'scale', 'spawn', 'memory', 'capacity', 'model', 'recovery', 'verification', 'api', 'dashboard', 'metrics', 'sentinel', 'ratelimit', 'cache', 'workflow', 'budgets'] as const;
type Scenario = (typeof SCENARIOS)[number];

const HELP = `npm run bench [-- options]

Starts a private redis-server on a free port and measures the network on this machine, side by side
with BullMQ: throughput, latency at half load, Redis commands and memory per task, the Redis ceiling,
scale over 1, 4 and 16 domains, spawn time, idle memory, capacity (workers waiting on a slow model
in one domain process, idle domains per GB), the model path, recovery,
verification (checks with repair rounds), the HTTP API (dan serve, from dist/), the cost of a
/metrics scrape, Redis failovers through Sentinel (redis-server and redis-sentinel on the PATH), the shared
model rate limit (ratelimit), the prompt cache's share of input tokens (cache), a workflow's
step-to-step time (workflow) and budgets (overspend under concurrent workers). Prints one
table, each measurement next to its goal, and writes the same as JSON.

  --quick          small counts (about a minute), as CI runs it
  --json           the JSON on stdout (the table goes to stderr)
  --only a,b       only these scenarios (and what they need): ${SCENARIOS.join(', ')}
  --out FILE       where the JSON goes (default: bench-results.json)
  --seed N         the verification scenario's plan: which tasks the scripted worker repairs when (default: 2026)
  --image NAME     agent image of the Docker rows (default: DAN_AGENT_IMAGE or dan/agent:local)
  --profile DIR    each main orchestrator writes a CPU profile (.cpuprofile) there when it stops
  --help           this text
`;

interface Options {
  quick: boolean;
  json: boolean;
  only: Set<Scenario>;
  out: string;
  seed: number;
  image: string;
  profile?: string;
}

function parseArgs(argv: string[]): Options | 'help' {
  const options: Options = { quick: false, json: false, only: new Set(SCENARIOS), out: 'bench-results.json', seed: 2026, image: process.env['DAN_AGENT_IMAGE'] ?? 'dan/agent:local' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--help' || arg === '-h') return 'help';
    else if (arg === '--quick') options.quick = true;
    else if (arg === '--json') options.json = true;
    else if (arg === '--out') options.out = value();
    else if (arg === '--image') options.image = value();
    else if (arg === '--seed') {
      const seed = Number(value());
      if (!Number.isInteger(seed) || seed < 0) throw new Error('--seed needs a whole number >= 0');
      options.seed = seed;
    }
    else if (arg === '--profile') options.profile = path.resolve(value());
    else if (arg === '--only') {
      const names = value().split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = names.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
      if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}: pick from ${SCENARIOS.join(', ')}`);
      options.only = new Set(names as Scenario[]);
    } else throw new Error(`unknown option ${arg} (see --help)`);
  }
  return options;
}

async function main(): Promise<void> {
  const parsed = parseArgs(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const { quick, only } = parsed;
  const wants = (...names: Scenario[]) => names.some((name) => only.has(name));
  const counts = quick
    ? { tasks: 300, rounds: 3, latencySeconds: 1.5, pending: 5_000, ceilingRequests: 20_000, spawns: 3, capacityWorkers: 10, modelTasks: 2, scaleTasks: 300, verifyTasks: 20, apiJobs: 1_000, apiGetSeconds: 1, dashboardTasks: 5_000, metricsTasks: 5_000, scrapes: 20, failoversPerKind: 1, sentinelSubmits: 200, workflowSteps: 12, budgetTasks: 10 }
    : { tasks: 5_000, rounds: 7, latencySeconds: 5, pending: 100_000, ceilingRequests: 200_000, spawns: 10, capacityWorkers: 100, modelTasks: 10, scaleTasks: 10_000, verifyTasks: 40, apiJobs: 10_000, apiGetSeconds: 5, dashboardTasks: 100_000, metricsTasks: 100_000, scrapes: 100, failoversPerKind: 5, sentinelSubmits: 2_000, workflowSteps: 50, budgetTasks: 50 };
  const began = Date.now();
  const progress = (message: string) => process.stderr.write(`[bench ${((Date.now() - began) / 1000).toFixed(1)} s] ${message}\n`);

  const redisServer = await startRedisServer(await freePort(), silentLogger);
  const model = new LocalModelServer();
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-bench-'));
  const redis = await connectRedis(redisServer.url);
  const env: BenchEnv = { redisUrl: redisServer.url, redis, model, modelUrl: await model.start(), workspace, quick, progress, ...(parsed.profile ? { profileDir: parsed.profile } : {}) };
  const results: BenchResults = {};
  try {
    const docker = await dockerStatus(parsed.image);
    const machine = await describeMachine(redis, 'version' in docker ? docker.version : 'no engine');
    progress(`redis-server ${machine.redis} at ${redisServer.url}; ${quick ? 'quick' : 'full'} run`);

    if (wants('memory', 'model', 'throughput', 'latency', 'redis-cost', 'ceiling')) {
      const core = await startBenchNetwork(env, 'core', coreSettings);
      try {
        if (wants('memory')) {
          progress('idle memory of main and of a domain process');
          results.memory = { ...(await measureIdleMemory(env, core)), domain_container_rss_mb: null };
        }
        if (wants('model')) {
          progress(`model path: ${counts.modelTasks} single-worker tasks`);
          results.model_path = await measureModelPath(env, core, counts.modelTasks);
        }
        if (wants('throughput', 'latency', 'redis-cost', 'ceiling')) {
          results.throughput = await measureThroughput(env, core, counts.tasks, counts.rounds);
        }
        if (wants('latency', 'redis-cost', 'ceiling') && results.throughput) {
          const t = results.throughput;
          progress(`latency: direct at ${round(t.direct_tasks_per_s / 2, 0)}/s for ${counts.latencySeconds} s`);
          const direct = await measureLatency(env, core, 'backend', t.direct_tasks_per_s / 2, counts.latencySeconds, 'latency-direct');
          progress(`latency: routed at ${round(t.routed_tasks_per_s / 2, 0)}/s for ${counts.latencySeconds} s`);
          const routed = await measureLatency(env, core, 'main', t.routed_tasks_per_s / 2, counts.latencySeconds, 'latency-routed');
          results.latency = { direct, routed };
        }
      } finally {
        await core.stop();
      }
    }
    if (wants('redis-cost', 'ceiling') && results.latency) {
      progress(`Redis memory with ${counts.pending} pending tasks`);
      results.redis_cost = {
        commands_per_direct_task: results.latency.direct.commands.total,
        commands_per_routed_task: results.latency.routed.commands.total,
        direct_by_command: results.latency.direct.commands.byCommand,
        routed_by_command: results.latency.routed.commands.byCommand,
        pending_tasks: counts.pending,
        bytes_per_pending_task: await bytesPerPendingTask(env, counts.pending),
      };
    }
    if (wants('ceiling') && results.latency && results.throughput) {
      progress(`Redis ceiling: ${counts.ceilingRequests} of each command with redis-benchmark`);
      results.ceiling = await measureCeiling(env, results.latency.direct.commands.byCommand, results.throughput.direct_tasks_per_s, counts.ceilingRequests);
    }
    if (wants('scale')) results.scale = await measureScale(env, counts.scaleTasks, [1, 4, 16]);
    if (wants('spawn', 'memory')) {
      const processRow = wants('spawn') ? await measureProcessSpawn(env, counts.spawns) : undefined;
      const dockerRow = await measureDockerSpawn(env, counts.spawns, parsed.image);
      const swarmRow = processRow ? await measureSwarmSpawn(env, counts.spawns, parsed.image) : undefined;
      if (processRow) results.spawn = { process: processRow, docker: dockerRow, ...(swarmRow ? { swarm: swarmRow } : {}), node_start_ms: await measureNodeStart() };
      if (results.memory) results.memory.domain_container_rss_mb = 'skipped' in dockerRow ? null : dockerRow.idle_rss_mb;
    }
    if (wants('capacity')) {
      progress(`capacity: ${counts.capacityWorkers} workers waiting on a slow model in one domain process`);
      results.capacity = await measureCapacity(env, counts.capacityWorkers);
    }
    if (wants('recovery')) {
      progress('recovery: SIGKILL a domain mid-task');
      results.recovery = await measureRecovery(env);
    }
    if (wants('verification')) {
      progress(`verification: ${counts.verifyTasks} tasks, seed ${parsed.seed}`);
      results.verification = await measureVerification(env, counts.verifyTasks, parsed.seed);
    }
    if (wants('api')) {
      progress(`api: dan serve, ${counts.apiJobs} jobs per path`);
      results.api = await measureApi(env, counts.apiJobs, counts.apiGetSeconds);
    }
    if (wants('dashboard')) {
      progress(`dashboard: headless Chromium, ${counts.dashboardTasks} tasks`);
      results.dashboard = await measureDashboard(env, counts.dashboardTasks);
    }

    if (wants('metrics')) {
      progress(`metrics: a scrape with ${counts.metricsTasks} tasks in Redis`);
      results.metrics = await measureMetricsScrape(env, counts.metricsTasks, counts.scrapes);
    }
    if (wants('workflow')) {
      progress(`workflow: ${counts.workflowSteps} steps with fan-out and fan-in on the local model`);
      results.workflow = await measureWorkflow(env, counts.workflowSteps);
    }
    if (wants('budgets')) {
      progress(`budgets: ${counts.budgetTasks} tasks with random budgets, 4 concurrent workers each`);
      results.budgets = await measureBudgets(env, counts.budgetTasks, 4);
    }
    if (wants('sentinel')) {
      progress(`sentinel: ${counts.failoversPerKind * 2} failovers of a master with 2 replicas and 3 Sentinels`);
      results.sentinel = await measureSentinel(env, counts.failoversPerKind, counts.sentinelSubmits);
    }

    if (wants('ratelimit')) {
      // Quick: a 5 s window stands for the minute (DAN_MODEL_RATE_WINDOW_MS), so the run takes seconds.
      const [limit, windowMs] = quick ? [20, 5_000] : [40, 60_000];
      progress(`ratelimit: 30 tasks on 3 domains, ${limit} model requests per ${windowMs / 1000} s`);
      results.ratelimit = await measureRateLimit(env, limit, windowMs);
    }
    if (wants('cache')) {
      progress('cache: a 10-turn worker task');
      results.cache = await measureCache(env);
    }

    const table = rows(results);
    const report = {
      machine, mode: quick ? 'quick' : 'full', counts,
      direct_vs_bullmq: results.throughput?.direct_vs_bullmq ?? null,
      routed_vs_bullmq: results.throughput?.routed_vs_bullmq ?? null,
      scenarios: results,
      goals: table,
    };
    const json = `${JSON.stringify(report, null, 2)}\n`;
    writeFileSync(parsed.out, json);
    const text = `${formatTable(machine, report.mode, table)}\n`;
    if (parsed.json) {
      process.stderr.write(text);
      process.stdout.write(json);
    } else {
      process.stdout.write(`${text}\n(JSON in ${parsed.out})\n`);
    }
  } finally {
    redis.disconnect();
    await model.stop();
    await redisServer.stop();
    rmSync(workspace, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
