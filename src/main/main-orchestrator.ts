import { unattributedCallCost } from '../../lib/llm/cost-control.js';
import { loadPriceTable } from '../../lib/llm/model-prices.js';
import { recordCallCost } from '../../lib/redis/budgets.js';
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
import { AgentLifecycle } from '../../lib/runtime/agent-lifecycle.js';
import type { AgentConnections } from '../../lib/runtime/agent-connections.js';
import { offeredDomains } from '../../lib/agents/domain-kinds.js';
import { currentMain, publishDomainCatalog } from '../../lib/redis/domain-catalog.js';
import { superviseLoop } from './supervise-loop.js';
import { approvalExpiryLoop } from './approval-expiry-loop.js';
import { requiresApproval } from '../../lib/protocol/approval.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { webhookDeliveryLoops } from '../webhooks/webhook-delivery-loop.js';
import { openAgentConnections } from '../../lib/runtime/agent-connections.js';
import type { TaskContext } from '../../lib/runtime/task-consumer.js';
import { TaskConsumer } from '../../lib/runtime/task-consumer.js';
import type { Spawner } from '../../lib/spawner/spawner.js';
import { instanceSuffix } from '../../lib/spawner/spawner.js';
import { planLine, runPlan, storedPlan } from './delegation.js';
import { PlanStoodError } from '../../lib/redis/task-store.js';
import type { DomainSupervisor, SupervisorEvent } from './domain-supervisor.js';
import { planWithModel } from './llm-router.js';
import { timedCallMessage, type ModelCallTiming } from '../../lib/protocol/timed-call.js';
import { meteredLlmClient } from '../../lib/llm/metered-llm-client.js';
import { rateLimitedLlmClient } from '../../lib/llm/rate-limited-llm-client.js';
import { ModelRateLimit } from '../../lib/redis/model-rate-limit.js';
import { recordModelCall } from '../../lib/redis/task-metrics.js';
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
  readonly lifecycle: AgentLifecycle;
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

/**
 * Plans a task: one step for an echo (the smoke test of the whole path), else the configured router.
 * `onModelCall` hears how the router's model call went (its duration, its error when it failed), when it made one.
 */
async function makePlan(task: TaskContext['task'], catalog: AgentCatalog, options: MainOrchestratorOptions, signal: AbortSignal, onModelCall: (call: ModelCallTiming) => void): Promise<Plan> {
  const routable = { description: task.description, requirements: task.requirements };
  if (task.type === 'echo') {
    const scored = planTask(routable, catalog);
    const domain = task.description ? scored.steps[0]?.domain ?? catalog.fallback.name : catalog.fallback.name;
    return { steps: [{ domain, description: task.description || 'echo', dependsOn: [], requirements: [] }], strategy: scored.strategy, reason: `echo: sent whole to ${domain}`, scores: scored.scores };
  }
  if (options.config.router === 'llm') {
    return planWithModel({ client: await options.llm(), model: resolveModel(options.config, undefined), catalog, task: routable, signal, onModelCall });
  }
  return planTask(routable, catalog);
}

/**
 * The main orchestrator (`dan up`): takes `tasks:pending:main`, plans each task across domains,
 * queues the sub-tasks and aggregates their results; and supervises the domains, starting their
 * orchestrators on demand through the spawner.
 */
export async function startMainOrchestrator(options: MainOrchestratorOptions): Promise<RunningMain> {
  const agentId = options.agentId ?? `main-${instanceSuffix()}`;
  const built: { supervisor?: DomainSupervisor } = {};
  const catalog = options.catalog ?? loadAgentCatalog(options.config.agentsDir);
  const lifecycle = createMainLifecycle({ ...options, agentId, catalog }, built);
  await lifecycle.start();
  return {
    agentId, catalog, supervisor: built.supervisor!, lifecycle,
    stop: () => lifecycle.stop(),
    stopped: lifecycle.done.then(() => undefined),
  };
}

/**
 * The main orchestrator's lifecycle: its consumer plans tasks, and its one extra loop supervises the
 * domains (and closes the spawner, stopping the domain agents, when it ends).
 */
function createMainLifecycle(options: MainOrchestratorOptions & { agentId: string; catalog: AgentCatalog }, built: { supervisor?: DomainSupervisor }): AgentLifecycle {
  const { config, agentId, catalog } = options;
  const logger = options.logger.child({ agentId });
  return new AgentLifecycle({
    agentId, logger, graceMs: config.shutdownGraceMs,
    open: async (stop) => {
      const conn = await openAgentConnections(config, agentId, logger);
      try {
        await takeSeat(conn, config, agentId, logger);
        const settings = { elfEnabled: config.elf.enabled };
        await publishDomainCatalog(conn.redis, conn.keys, offeredDomains(catalog, settings).map((d) => ({ name: d.name, description: d.description, workers: d.workers.map((w) => w.name) })));
      } catch (error) {
        conn.close();
        throw error;
      }
      const { redis, keys, registry } = conn;
      // The webhook loop blocks on the events stream with a connection of its own.
      const events = await connectRedis(config.redisUrl, { name: `${agentId}:webhooks`, logger, blocking: true }).catch((error: unknown) => { conn.close(); throw error; });
      const registration = { agentId, role: 'main', domain: 'main', extra: { pid: String(process.pid), host: os.hostname() } } as const;
      // Swept while still running (its heartbeat lapsed): nobody else replaces the main orchestrator, so
      // it registers again, unless another main has taken its place meanwhile.
      const rejoin = async () => {
        const holder = await currentMain(redis, keys);
        if (holder && holder.agentId !== agentId) return false;
        await registry.register(registration);
        return true;
      };
      const heartbeat = new AgentHeartbeat(registry, agentId, config.heartbeatIntervalMs, logger, () => void stop(), rejoin);
      const watcher = new ResultWatcher(redis, conn.subscriber, keys);
      const deps = { redis, keys, watcher, clock: systemClock, retentionMs: config.retentionMs };
      // The router's calls go straight to the model, not through the gateway that meters the agents':
      // counted here the same way, so /metrics holds every model call of the network.
      // Under the shared rate limit too, as the agents' calls are in the gateway; priced with the gateway's table, for `dan cost` and dan_model_cost_usd_total (domain main; no task's budget).
      const limiter = new ModelRateLimit(redis, keys, config.llm.rateLimit);
      const prices = loadPriceTable(config.cost.prices);
      const planningOptions = {
        ...options,
        llm: async () => rateLimitedLlmClient(meteredLlmClient(await options.llm(), async (call) => {
          await Promise.all([recordModelCall(redis, keys, call), recordCallCost(redis, keys, unattributedCallCost(prices, call, Date.now()))]);
        }), limiter, config.llm.rateLimit.maxWaitMs),
      };
      const consumer = new TaskConsumer({
        redis, blocking: conn.blocking, subscriber: conn.subscriber, keys, queue: new TaskQueue(redis, keys, queueOptions(config, 'main', agentId)),
        agentId, logger, retentionMs: config.retentionMs, concurrency: config.mainConcurrency, leaseMs: config.leaseMs,
        onStatus: (status) => heartbeat.setStatus(agentId, status),
        // A routed task that asks for approval is planned, then waits with that plan (stored, so the plan
        // approved is the plan run); its sub-tasks do not inherit the gate.
        approval: {
          required: (task) => requiresApproval(task, false),
          windowMs: config.approvalWindowMs,
          route: async (task, signal) => {
            const { plan } = await storedPlan(deps, task.taskId, true, () => makePlan(task, catalog, planningOptions, signal, () => undefined));
            return plan.steps.map((s) => ({ domain: s.domain, description: s.description, after: s.dependsOn }));
          },
        },
        handler: async (ctx) => {
          let planning: ModelCallTiming | undefined;
          const { plan, resumed, unstored } = await storedPlan(deps, ctx.task.taskId, ctx.claimed.attempt > 1 || requiresApproval(ctx.task, false), () => makePlan(ctx.task, catalog, planningOptions, ctx.signal, (call) => { planning = call; }));
          // Held for the first sub-task's submit, which writes them ahead of its own line, in its one step
          // (without a hold, not awaited: the line still goes out ahead of everything that follows).
          const say = (message: string) => (ctx.held ? ctx.held.hold(message) : void ctx.log(message));
          say(planLine(plan, resumed));
          // The router's model call, for the job's timeline (GET /jobs/{id}/timeline), as workers' calls are logged.
          // A call that failed is there too, with its error (the plan then fell back to the keyword router).
          if (planning !== undefined) say(timedCallMessage(agentId, { kind: 'model_call', turn: 1, ...planning }));
          try {
            return await runPlan(ctx, plan, deps, resumed, unstored);
          } catch (error) {
            if (!(error instanceof PlanStoodError)) throw error;
            // Another attempt stored its plan first: none of this plan's sub-tasks was queued, and that one stands.
            const stood = JSON.parse(error.plan) as Plan;
            say(planLine(stood, true));
            return runPlan(ctx, stood, deps, true);
          }
        },
      });
      const supervising = superviseLoop({ ...options, logger, conn, catalog });
      built.supervisor = supervising.supervisor;
      return {
        register: async () => {
          await registry.register(registration);
          logger.info({ domains: catalog.domains.map((d) => d.name), spawner: options.spawner.kind, router: config.router }, 'main orchestrator up');
        },
        heartbeat, consumer,
        loops: [
          supervising.loop,
          approvalExpiryLoop({ redis, keys, agentId, logger, retentionMs: config.retentionMs, intervalMs: config.superviseIntervalMs }),
          ...webhookDeliveryLoops({ redis, events, keys, consumer: agentId, logger, timeoutMs: config.webhooks.timeoutMs, maxAttempts: config.webhooks.maxAttempts }),
        ],
        deregister: () => registry.deregister(agentId, 'main', 'main'),
        reachable: () => redis.status === 'ready',
        close: () => {
          watcher.close();
          events.disconnect();
          conn.close();
        },
      };
    },
  });
}

/**
 * Takes the main orchestrator's seat on this Redis: refused while another live main holds it, unless
 * that one ran on this host and its process is gone (killed without deregistering): then its tasks
 * are handed back and this one takes over.
 */
async function takeSeat(conn: AgentConnections, config: Config, agentId: string, logger: Logger): Promise<void> {
  const { redis, keys, registry } = conn;
  const running = await currentMain(redis, keys);
  if (!running || !(await registry.isAlive(running.agentId))) return;
  const { info } = running;
  // Same host and its process is gone, or has this very pid (a restarted container: same hostname,
  // same pid): it was killed without deregistering. Hand its tasks back and take over.
  const previousGone = info['pid'] === String(process.pid) || (info['pid'] !== undefined && !processExists(Number(info['pid'])));
  if (info['host'] === os.hostname() && previousGone) {
    logger.warn({ previous: running.agentId, pid: info['pid'] }, 'the previous main orchestrator on this host is gone; taking over');
    await registry.deregister(running.agentId, 'main', 'main');
    await new TaskQueue(redis, keys, queueOptions(config, 'main', agentId)).reclaimOwnedBy(running.agentId, `main orchestrator ${running.agentId} is gone`);
    return;
  }
  throw new DanError('main_running', `a main orchestrator (${running.agentId}) is already running on this Redis${config.keyPrefix ? ` under prefix '${config.keyPrefix}'` : ''}: stop it first, or give this network its own DAN_KEY_PREFIX`, { exitCode: 2 });
}
