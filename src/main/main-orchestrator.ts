import os from 'node:os';
import type { AgentCatalog } from '../../lib/agents/agent-definitions.js';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import type { Config } from '../../lib/config.js';
import { systemClock } from '../../lib/clock.js';
import { DanError } from '../../lib/errors.js';
import { resolveModel } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { TaskQueue } from '../../lib/redis/task-queue.js';
import { AgentHeartbeat } from '../../lib/runtime/agent-heartbeat.js';
import { openAgentConnections } from '../../lib/runtime/agent-connections.js';
import type { TaskContext } from '../../lib/runtime/task-consumer.js';
import { TaskConsumer } from '../../lib/runtime/task-consumer.js';
import type { Spawner } from '../../lib/spawner/spawner.js';
import { instanceSuffix } from '../../lib/spawner/spawner.js';
import { runPlan, storedPlan } from './delegation.js';
import type { SupervisorEvent } from './domain-supervisor.js';
import { DomainSupervisor } from './domain-supervisor.js';
import { planWithModel } from './llm-router.js';
import type { Plan } from './plan.js';
import { planTask } from './scoring-router.js';

export interface MainOrchestratorOptions {
  config: Config;
  logger: Logger;
  spawner: Spawner;
  /** Environment every spawned domain agent gets (Redis URL, model settings, prefix). */
  agentEnv: Record<string, string>;
  llm: () => Promise<LlmClient>;
  catalog?: AgentCatalog;
  agentId?: string;
  onEvent?: (event: SupervisorEvent) => void;
}

export interface RunningMain {
  agentId: string;
  catalog: AgentCatalog;
  supervisor: DomainSupervisor;
  stop(): Promise<void>;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Plans a task: one step for an echo (the smoke test of the whole path), else the configured router. */
async function makePlan(task: TaskContext['task'], catalog: AgentCatalog, options: MainOrchestratorOptions, signal: AbortSignal): Promise<Plan> {
  const routable = { description: task.description, requirements: task.requirements };
  if (task.type === 'echo') {
    const scored = planTask(routable, catalog);
    const domain = task.description ? scored.steps[0]?.domain ?? catalog.fallback.name : catalog.fallback.name;
    return { steps: [{ domain, description: task.description || 'echo', dependsOn: [], requirements: [] }], strategy: scored.strategy, reason: `echo: sent whole to ${domain}`, scores: scored.scores };
  }
  if (options.config.router === 'llm') {
    return planWithModel({ client: await options.llm(), model: resolveModel(options.config, undefined), catalog, task: routable, signal });
  }
  return planTask(routable, catalog);
}

/**
 * The main orchestrator (`dan up`): takes `tasks:pending:main`, plans each task across domains,
 * queues the sub-tasks and aggregates their results; and supervises the domains, starting their
 * orchestrators on demand through the spawner.
 */
export async function startMainOrchestrator(options: MainOrchestratorOptions): Promise<RunningMain> {
  const { config } = options;
  const catalog = options.catalog ?? loadAgentCatalog(config.agentsDir);
  const agentId = options.agentId ?? `main-${instanceSuffix()}`;
  const logger = options.logger.child({ agentId });
  const conn = await openAgentConnections(config, agentId, logger);
  const { redis, keys, registry } = conn;
  const running = await redis.get(keys.agentsMain());
  if (running && (await registry.isAlive(running))) {
    const info = await redis.hgetall(keys.agentInfo(running));
    // Same host and its process is gone, or has this very pid (a restarted container: same hostname,
    // same pid): it was killed without deregistering. Hand its tasks back and take over.
    const previousGone = info['pid'] === String(process.pid) || (info['pid'] !== undefined && !processExists(Number(info['pid'])));
    if (info['host'] === os.hostname() && previousGone) {
      logger.warn({ previous: running, pid: info['pid'] }, 'the previous main orchestrator on this host is gone; taking over');
      await registry.deregister(running, 'main', 'main');
      await new TaskQueue(redis, keys, { domain: 'main', agentId, leaseMs: config.leaseMs, retentionMs: config.retentionMs, maxAttempts: config.maxAttempts })
        .reclaimOwnedBy(running, `main orchestrator ${running} is gone`);
    } else {
      conn.close();
      throw new DanError('main_running', `a main orchestrator (${running}) is already running on this Redis${config.keyPrefix ? ` under prefix '${config.keyPrefix}'` : ''}: stop it first, or give this network its own DAN_KEY_PREFIX`, { exitCode: 2 });
    }
  }

  await redis.del(keys.domainCatalog());
  await redis.hset(keys.domainCatalog(), Object.fromEntries([
    ...catalog.domains.map((d) => [d.name, JSON.stringify({ description: d.description, workers: d.workers.map((w) => w.name) })]),
    ...(config.elf.enabled ? [['elf', JSON.stringify({ description: "The network's memory: ask it what earlier tasks taught", workers: [] })]] : []),
  ]));
  await registry.register({ agentId, role: 'main', domain: 'main', extra: { pid: String(process.pid), host: os.hostname() } });
  const heartbeat = new AgentHeartbeat(registry, agentId, config.heartbeatIntervalMs, logger, () => void stop());
  heartbeat.start();

  const watcher = new ResultWatcher(redis, conn.subscriber, keys);
  const deps = { redis, keys, watcher, clock: systemClock, retentionMs: config.retentionMs };
  const queue = new TaskQueue(redis, keys, { domain: 'main', agentId, leaseMs: config.leaseMs, retentionMs: config.retentionMs, maxAttempts: config.maxAttempts });
  const consumer = new TaskConsumer({
    redis, blocking: conn.blocking, keys, queue, agentId, logger,
    concurrency: config.mainConcurrency, leaseMs: config.leaseMs,
    onStatus: (status) => heartbeat.setStatus(agentId, status),
    handler: async (ctx) => {
      const { plan, resumed } = await storedPlan(deps, ctx.task.taskId, () => makePlan(ctx.task, catalog, options, ctx.signal));
      const route = plan.steps.map((s) => `${s.domain}${s.dependsOn.length ? ` (after ${s.dependsOn.join(', ')})` : ''}`).join(', ');
      await ctx.log(`${resumed ? 'resumed plan' : 'routed'} (${plan.strategy}): ${route}; ${plan.reason}`);
      return runPlan(ctx, plan, deps);
    },
  });

  const supervisor = new DomainSupervisor({
    // Supervisor lines are about the domain agents they start: they carry that agent's id.
    redis, keys, registry, spawner: options.spawner, logger: options.logger,
    domains: () => catalog.domains.map((d) => d.name),
    // The ELF memory runs whether or not work waits: it learns from every task that ends.
    resident: config.elf.enabled ? ['elf'] : [],
    limits: { maxInstancesPerDomain: config.maxInstancesPerDomain, maxDomainAgents: config.maxDomainAgents, domainConcurrency: config.domainConcurrency },
    agentEnv: options.agentEnv, spawnTimeoutMs: config.spawnTimeoutMs,
    // 10 ticks: a push to an unknown domain is rare, and finding it means reading every key name.
    sweepEveryMs: config.superviseIntervalMs, scanEveryMs: config.superviseIntervalMs * 10,
    leaseMs: config.leaseMs, retentionMs: config.retentionMs, maxAttempts: config.maxAttempts,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  // The supervisor ticks every DAN_SUPERVISE_INTERVAL_MS, and at once (at most every 50 ms) when a
  // task is announced on notifications:{domain}, so a cold domain starts without waiting for a tick.
  let supervising = true;
  let poked = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    poked = true;
    wake?.();
  };
  const superviseLoop = (async () => {
    while (supervising) {
      poked = false;
      const started = Date.now();
      await supervisor.tick().catch((error: Error) => logger.warn({ err: error.message }, 'supervisor tick failed; retrying'));
      const pause = poked ? Math.max(0, 50 - (Date.now() - started)) : config.superviseIntervalMs;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pause);
        wake = poked ? undefined : () => { clearTimeout(timer); resolve(); };
      });
      wake = undefined;
    }
  })();
  const notifications = keys.notifications('*');
  conn.subscriber.on('pmessage', (pattern: string) => { if (pattern === notifications) poke(); });
  await conn.subscriber.psubscribe(notifications);
  const consuming = consumer.start();
  logger.info({ domains: catalog.domains.map((d) => d.name), spawner: options.spawner.kind, router: config.router }, 'main orchestrator up');

  let stopping: Promise<void> | undefined;
  // A function declaration: the heartbeat above may call it once everything below exists. Every
  // caller waits for the one shutdown.
  function stop(): Promise<void> {
    stopping ??= (async () => {
      supervising = false;
      wake?.();
      await consumer.stop(config.shutdownGraceMs);
      await consuming;
      await superviseLoop;
      await options.spawner.close(config.shutdownGraceMs);
      watcher.close();
      heartbeat.stop();
      await registry.deregister(agentId, 'main', 'main').catch(() => undefined);
      conn.close();
    })();
    return stopping;
  }
  return { agentId, catalog, supervisor, stop };
}
