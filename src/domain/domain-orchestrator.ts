import os from 'node:os';
import path from 'node:path';
import type { AgentCatalog } from '../../lib/agents/agent-definitions.js';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import type { Config } from '../../lib/config.js';
import { packageRoot } from '../../lib/config.js';
import type { ModelAccess } from '../../lib/llm/create-llm-client.js';
import { DanError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { AgentHeartbeat } from '../../lib/runtime/agent-heartbeat.js';
import { openAgentConnections } from '../../lib/runtime/agent-connections.js';
import { requiresApproval } from '../../lib/protocol/approval.js';
import { TaskConsumer } from '../../lib/runtime/task-consumer.js';
import { AgentLifecycle } from '../../lib/runtime/agent-lifecycle.js';
import { IdleCollector } from '../../lib/runtime/idle-collector.js';
import type { WorkerRuntime } from '../worker/worker-runtime.js';
import { ElfClient } from '../../lib/elf/elf-client.js';
import { elfDomainMemory } from './domain-memory.js';
import { TASK_HANDLERS } from './task-handlers.js';

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
  readonly lifecycle: AgentLifecycle;
}

/**
 * A domain orchestrator: registers, heartbeats for itself and its running workers, takes its domain's
 * tasks with the configured concurrency, and stops by itself after being idle for DAN_DOMAIN_IDLE_MS.
 */
export async function startDomainOrchestrator(options: DomainOrchestratorOptions): Promise<RunningDomain> {
  const lifecycle = createDomainLifecycle(options);
  await lifecycle.start();
  return { agentId: options.agentId, lifecycle, done: lifecycle.done.then((end) => end.why), stop: () => lifecycle.stop() };
}

/** A domain orchestrator's lifecycle, not yet started: for `startAgent` and `startDomainOrchestrator`. */
export function createDomainLifecycle(options: DomainOrchestratorOptions): AgentLifecycle {
  const { config, agentId, logger } = options;
  const catalog = options.catalog ?? loadAgentCatalog(config.agentsDir);
  const domain = catalog.domain(options.domain);
  if (!domain) {
    throw new DanError('unknown_domain', `unknown domain '${options.domain}'; known domains: ${catalog.domains.map((d) => d.name).join(', ')} (add a folder under ${catalog.dir} to add one)`, { exitCode: 2 });
  }
  const lifecycle: AgentLifecycle = new AgentLifecycle({
    agentId, logger, graceMs: config.shutdownGraceMs,
    open: async (stop) => {
      const conn = await openAgentConnections(config, agentId, logger);
      const { redis, keys, registry } = conn;
      const heartbeat = new AgentHeartbeat(registry, agentId, config.heartbeatIntervalMs, logger, () => void stop());
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
              elfMcp: (clientId: string, worker: { taskId: string; agent: string }) => ({
                command: process.execPath, args: [cli, 'elf', 'mcp', '--client', clientId, '--task', worker.taskId, '--agent', worker.agent],
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
      const elf = config.elf.enabled ? new ElfClient(redis, conn.subscriber, keys, agentId, config.elf.timeoutMs) : undefined;
      const workerLifecycle = {
        started: async (workerId: string, worker: { name: string }, task: { taskId: string }) => {
          await registry.register({ agentId: workerId, role: 'worker', domain: domain.name, status: 'busy', extra: { parent_agent: agentId, task_id: task.taskId, worker: worker.name } });
          heartbeat.add(workerId);
        },
        finished: (workerId: string) => heartbeat.release(workerId, () => registry.deregister(workerId, 'worker', domain.name)),
      };
      const memory = elf ? elfDomainMemory(elf, domain.name, { budgetTokens: config.elf.budgetTokens, timeoutMs: config.elf.timeoutMs }) : undefined;
      // The domain's kind says how it works a task: waves of its workers, an agent farm, ...
      const makeHandler = TASK_HANDLERS[domain.handler ?? 'workers'];
      if (!makeHandler) {
        conn.close();
        throw new DanError('bad_config', `domain '${domain.name}' is of kind '${domain.handler ?? ''}', which is not run by a domain orchestrator: start it as its own agent`, { exitCode: 2 });
      }
      const handler = await makeHandler({
        config, domain, catalog, agentId, redis, keys, logger, llm: options.llm, runtime: getRuntime, lifecycle: workerLifecycle,
        ...(memory ? { memory } : {}),
      });
      // Garbage left by the start-up and by the last tasks, collected once the domain is idle.
      const collector = new IdleCollector();
      const consumer = new TaskConsumer({
        redis, blocking: conn.blocking, subscriber: conn.subscriber, keys, agentId, handler, logger, retentionMs: config.retentionMs,
        queue: new TaskQueue(redis, keys, queueOptions(config, domain.name, agentId)),
        concurrency: config.domainConcurrency, leaseMs: config.leaseMs, idleMs: config.domainIdleMs,
        onStatus: (status) => {
          heartbeat.setStatus(agentId, status);
          if (status === 'idle') collector.idle();
          else collector.busy();
        },
        approval: { required: (task) => requiresApproval(task, domain.approval === true), windowMs: config.approvalWindowMs },
      });
      return {
        register: async () => {
          await registry.register({ agentId, role: 'domain', domain: domain.name, containerId: options.containerId, extra: { pid: String(process.pid), host: os.hostname() } });
          logger.info({ workers: domain.workers.map((w) => w.name) }, 'domain orchestrator ready');
          collector.idle();
        },
        heartbeat,
        consumer: {
          start: () => consumer.start().then((why) => {
            if (why === 'idle') logger.info({ idleMs: config.domainIdleMs }, 'idle; shutting down');
            return why;
          }),
          stop: async (graceMs) => {
            const notHandedBack = await consumer.stop(graceMs);
            // Aborted tasks unwind (their workers deregister) before the connections close: 2 s at most.
            for (let waited = 0; consumer.busy > 0 && waited < 2_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
            return notHandedBack;
          },
        },
        loops: [],
        deregister: () => registry.deregister(agentId, 'domain', domain.name),
        reachable: () => redis.status === 'ready',
        close: () => {
          collector.busy();
          elf?.close();
          conn.close();
        },
      };
    },
  });
  return lifecycle;
}
