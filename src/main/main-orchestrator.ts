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
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
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
  /** Settles once the orchestrator has stopped, by `stop()` or on its own (another main took its place). */
  stopped: Promise<void>;
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
      await new TaskQueue(redis, keys, queueOptions(config, 'main', agentId))
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
  const registration = { agentId, role: 'main', domain: 'main', extra: { pid: String(process.pid), host: os.hostname() } } as const;
  await registry.register(registration);
  // Swept while still running (its heartbeat lapsed): nobody else replaces the main orchestrator, so
  // it registers again, unless another main has taken its place meanwhile.
  const rejoin = async () => {
    const holder = await redis.get(keys.agentsMain());
    if (holder && holder !== agentId) return false;
    await registry.register(registration);
    return true;
  };
  const heartbeat = new AgentHeartbeat(registry, agentId, config.heartbeatIntervalMs, logger, () => void stop(), rejoin);
  heartbeat.start();

  const watcher = new ResultWatcher(redis, conn.subscriber, keys);
  const deps = { redis, keys, watcher, clock: systemClock, retentionMs: config.retentionMs };
  const queue = new TaskQueue(redis, keys, queueOptions(config, 'main', agentId));
  const consumer = new TaskConsumer({
    redis, blocking: conn.blocking, subscriber: conn.subscriber, keys, queue, agentId, logger, retentionMs: config.retentionMs,
    concurrency: config.mainConcurrency, leaseMs: config.leaseMs,
    onStatus: (status) => heartbeat.setStatus(agentId, status),
    handler: async (ctx) => {
      const { plan, resumed } = await storedPlan(deps, ctx.task.taskId, () => makePlan(ctx.task, catalog, options, ctx.signal));
      const route = plan.steps.map((s) => `${s.domain}${s.dependsOn.length ? ` (after ${s.dependsOn.join(', ')})` : ''}`).join(', ');
      // Not awaited: the line goes out on the same connection ahead of everything that follows, so it
      // stays first in the task's log, and the sub-tasks are queued without waiting one round trip.
      void ctx.log(`${resumed ? 'resumed plan' : 'routed'} (${plan.strategy}): ${route}; ${plan.reason}`);
      return runPlan(ctx, plan, deps, resumed);
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
    queue: config,
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
  // One poke per domain per supervise interval: under load every task is announced, and a tick per
  // task (a dozen queue reads each) would cost Redis more than the tasks themselves. A domain that
  // was announced within the interval has been looked at already, or is at the next tick.
  const lastPoke = new Map<string, number>();
  conn.subscriber.on('pmessage', (pattern: string, channel: string) => {
    if (pattern !== notifications) return;
    const now = Date.now();
    if (now - (lastPoke.get(channel) ?? 0) < config.superviseIntervalMs) return;
    lastPoke.set(channel, now);
    poke();
  });
  await conn.subscriber.psubscribe(notifications);
  const consuming = consumer.start();
  logger.info({ domains: catalog.domains.map((d) => d.name), spawner: options.spawner.kind, router: config.router }, 'main orchestrator up');

  let stopping: Promise<void> | undefined;
  let markStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => { markStopped = resolve; });
  // A function declaration: the heartbeat above may call it once everything below exists. Every
  // caller waits for the one shutdown.
  function stop(): Promise<void> {
    stopping ??= (async () => {
      supervising = false;
      wake?.();
      const consumerStopped = consumer.stop(config.shutdownGraceMs).then(() => consuming);
      await superviseLoop;
      // The domains get the same grace at the same time, plus 5 s to hand back, deregister and exit
      // before they are killed.
      await Promise.all([consumerStopped, options.spawner.close(config.shutdownGraceMs + 5_000)]);
      watcher.close();
      heartbeat.stop();
      await registry.deregister(agentId, 'main', 'main').catch(() => undefined);
      conn.close();
      markStopped();
    })();
    return stopping;
  }
  return { agentId, catalog, supervisor, stop, stopped };
}
