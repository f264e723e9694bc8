import os from 'node:os';
import path from 'node:path';
import type { AgentCatalog } from '../../lib/agents/agent-definitions.js';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import type { Config } from '../../lib/config.js';
import { packageRoot, resolveModel } from '../../lib/config.js';
import type { ModelAccess } from '../../lib/llm/create-llm-client.js';
import { DanError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { AgentHeartbeat } from '../../lib/runtime/agent-heartbeat.js';
import { openAgentConnections } from '../../lib/runtime/agent-connections.js';
import { TaskConsumer } from '../../lib/runtime/task-consumer.js';
import type { WorkerRuntime } from '../worker/worker-runtime.js';
import { ElfClient } from '../../lib/elf/elf-client.js';
import { createDomainHandler } from './domain-handler.js';
import { elfDomainMemory } from './domain-memory.js';
import { selectWorkers, selectWorkersWithModel } from './worker-selection.js';

export interface DomainOrchestratorOptions {
  config: Config;
  domain: string;
  agentId: string;
  logger: Logger;
  /** Built on first use: echo-only traffic never needs a model. */
  llm: () => Promise<LlmClient>;
  /** Where the model is, for workers run by the Claude Code CLI (DAN_WORKER_RUNTIME=claude-code). */
  modelAccess?: () => Promise<ModelAccess>;
  catalog?: AgentCatalog;
  containerId?: string;
}

export interface RunningDomain {
  agentId: string;
  /** Resolves when the agent stopped: idle for DAN_DOMAIN_IDLE_MS, told to stop, or deregistered. */
  done: Promise<'idle' | 'stopped'>;
  stop(): Promise<void>;
}

/**
 * A domain orchestrator: registers, heartbeats for itself and its running workers, takes its domain's
 * tasks with the configured concurrency, and stops by itself after being idle for DAN_DOMAIN_IDLE_MS.
 */
export async function startDomainOrchestrator(options: DomainOrchestratorOptions): Promise<RunningDomain> {
  const { config, agentId, logger } = options;
  const catalog = options.catalog ?? loadAgentCatalog(config.agentsDir);
  const domain = catalog.domain(options.domain);
  if (!domain) {
    throw new DanError('unknown_domain', `unknown domain '${options.domain}'; known domains: ${catalog.domains.map((d) => d.name).join(', ')} (add a folder under ${catalog.dir} to add one)`, { exitCode: 2 });
  }
  const conn = await openAgentConnections(config, agentId, logger);
  const { redis, keys, registry } = conn;
  await registry.register({ agentId, role: 'domain', domain: domain.name, containerId: options.containerId, extra: { pid: String(process.pid), host: os.hostname() } });

  const heartbeat = new AgentHeartbeat(registry, agentId, config.heartbeatIntervalMs, logger, () => void stop());
  heartbeat.start();

  const runtimes = new Map<string, WorkerRuntime>();
  // Loaded on first use, like the model client: echo-only and idle domains start faster and smaller.
  // A farm task may ask for either runtime; other domains use DAN_WORKER_RUNTIME.
  const getRuntime = async (kind: Config['workerRuntime'] = config.workerRuntime) => {
    let runtime = runtimes.get(kind);
    if (runtime) return runtime;
    if (kind === 'claude-code') {
      if (!options.modelAccess) throw new DanError('bad_config', 'DAN_WORKER_RUNTIME=claude-code needs model access for the CLI', { exitCode: 2 });
      const { ClaudeCodeWorkerRuntime } = await import('../worker/claude-code-worker-runtime.js');
      const { cliModelEnv } = await import('../../lib/llm/create-llm-client.js');
      const cli = path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
      runtime = new ClaudeCodeWorkerRuntime({
        config, logger, modelEnv: cliModelEnv(await options.modelAccess(), config),
        ...(config.elf.enabled ? {
          elfMcp: (clientId: string) => ({
            command: process.execPath, args: [cli, 'elf', 'mcp', '--client', clientId],
            env: { REDIS_URL: config.redisUrl, DAN_KEY_PREFIX: config.keyPrefix, PATH: process.env['PATH'] ?? '' },
          }),
        } : {}),
      });
    } else {
      const { SdkWorkerRuntime } = await import('../worker/sdk-worker-runtime.js');
      runtime = new SdkWorkerRuntime({ llm: await options.llm(), config, logger });
    }
    runtimes.set(kind, runtime);
    return runtime;
  };
  const queue = new TaskQueue(redis, keys, queueOptions(config, domain.name, agentId));
  const elf = config.elf.enabled ? new ElfClient(redis, conn.subscriber, keys, agentId, config.elf.timeoutMs) : undefined;
  const lifecycle = {
    started: async (workerId: string, worker: { name: string }, task: { taskId: string }) => {
      await registry.register({ agentId: workerId, role: 'worker', domain: domain.name, status: 'busy', extra: { parent_agent: agentId, task_id: task.taskId, worker: worker.name } });
      heartbeat.add(workerId);
    },
    finished: async (workerId: string) => {
      heartbeat.remove(workerId);
      await registry.deregister(workerId, 'worker', domain.name).catch(() => undefined);
    },
  };
  const memory = elf ? elfDomainMemory(elf, domain.name, { budgetTokens: config.elf.budgetTokens, timeoutMs: config.elf.timeoutMs }) : undefined;
  // A domain whose definition says `handler: farm` runs an agent farm per task instead of worker waves.
  const handler = domain.handler === 'farm'
    ? (await import('../farm/farm-handler.js')).createFarmHandler({
      config, domain, agentId, redis, keys, runtime: getRuntime, llm: options.llm, lifecycle, logger, ...(memory ? { memory } : {}),
    })
    : createDomainHandler({
      domain, catalog, agentId, logger, runtime: () => getRuntime(), lifecycle,
      ...(memory ? { memory } : {}),
      select: async (task, signal) => config.workerSelector === 'llm'
        ? selectWorkersWithModel({ client: await options.llm(), model: resolveModel(config, domain.model), domain, task, maxWorkers: config.workersPerTask, signal })
        : selectWorkers(task, domain, config.workersPerTask),
    });
  const consumer = new TaskConsumer({
    redis, blocking: conn.blocking, subscriber: conn.subscriber, keys, queue, agentId, handler, logger, retentionMs: config.retentionMs,
    concurrency: config.domainConcurrency, leaseMs: config.leaseMs, idleMs: config.domainIdleMs,
    onStatus: (status) => heartbeat.setStatus(agentId, status),
  });
  logger.info({ workers: domain.workers.map((w) => w.name) }, 'domain orchestrator ready');

  let stopping: Promise<void> | undefined;
  // A function declaration: the heartbeat above may call it once everything below exists. Every
  // caller waits for the one shutdown, so `done` cannot settle before the agent has deregistered.
  function stop(): Promise<void> {
    stopping ??= (async () => {
      await consumer.stop(config.shutdownGraceMs);
      // Aborted tasks unwind (their workers deregister) before the connections close: 2 s at most.
      for (let waited = 0; consumer.busy > 0 && waited < 2_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
      heartbeat.stop();
      await registry.deregister(agentId, 'domain', options.domain).catch(() => undefined);
      elf?.close();
      conn.close();
    })();
    return stopping;
  }
  const done = consumer.start().then(async (why) => {
    if (why === 'idle') logger.info({ idleMs: config.domainIdleMs }, 'idle; shutting down');
    await stop();
    return why;
  });
  return { agentId, done, stop };
}
