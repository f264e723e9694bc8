import { readdirSync } from 'node:fs';
import os from 'node:os';
import type { AgentCatalog } from '../../lib/agents/agent-definitions.js';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { kindOf, learnsFrom } from '../../lib/agents/domain-kinds.js';
import type { Config } from '../../lib/config.js';
import { resolveModel } from '../../lib/config.js';
import type { ModelAccess } from '../../lib/llm/create-llm-client.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { DanError, toFailure } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { ElfStores } from '../../lib/elf/elf-stores.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { EventConsumer } from '../../lib/redis/event-consumer.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { AgentHeartbeat } from '../../lib/runtime/agent-heartbeat.js';
import { openAgentConnections } from '../../lib/runtime/agent-connections.js';
import type { AgentLoop } from '../../lib/runtime/agent-lifecycle.js';
import { AgentLifecycle } from '../../lib/runtime/agent-lifecycle.js';
import { TaskConsumer } from '../../lib/runtime/task-consumer.js';
import { answerQuestion } from './elf-answer.js';
import { recordFinishedTask, type FailedTask } from './elf-outcomes.js';
import { postmortemOf, postmortemTask, runPostmortemTask } from './elf-postmortem.js';
import { elfRequestLoop } from './elf-request-loop.js';

/** The consumer group ELF reads the events stream with. */
const EVENTS_GROUP = 'elf';
/** How often ELF looks for events a dead ELF left unacknowledged, and how long they must have waited. */
const ADOPT_EVERY_MS = 30_000;

export interface ElfServiceOptions {
  config: Config;
  agentId: string;
  logger: Logger;
  clock?: Clock;
  /** How often to take over events a dead ELF left unacknowledged (and how long they must have waited); 30 s. */
  adoptEveryMs?: number;
  /** The domain this memory serves on the bus; DOMAIN_TYPE, else the memory's folder name. */
  domain?: string;
  /** Which domains' tasks it learns from (their kinds say); loaded from DAN_AGENTS_DIR when not given. */
  catalog?: AgentCatalog;
}

export interface RunningElf {
  agentId: string;
  stores: ElfStores;
  done: Promise<'stopped'>;
  stop(): Promise<void>;
  readonly lifecycle: AgentLifecycle;
}

/**
 * The ELF memory as a domain on the bus, the one process that writes its databases. Three loops:
 * requests on `dan:elf:requests` (context for workers, search, records, for the CLI and MCP), the
 * network's own `task.finished` events (a consumer group on `dan:events`, so what happened while ELF
 * was down is caught up when it returns), and tasks sent to its domain (questions to memory).
 */
export async function startElfService(options: ElfServiceOptions): Promise<RunningElf> {
  const opened: { stores?: ElfStores } = {};
  const lifecycle = createElfLifecycle(options, opened);
  await lifecycle.start();
  return {
    agentId: options.agentId, stores: opened.stores!, lifecycle,
    done: lifecycle.done.then(() => 'stopped' as const),
    stop: () => lifecycle.stop(),
  };
}

/** The ELF memory's lifecycle, not yet started: for `startAgent` and `startElfService`. `opened` gets its stores once open. */
export function createElfLifecycle(options: ElfServiceOptions, opened: { stores?: ElfStores } = {}): AgentLifecycle {
  const { config, agentId, logger } = options;
  const clock = options.clock ?? systemClock;
  const lifecycle: AgentLifecycle = new AgentLifecycle({
    agentId, logger, graceMs: config.shutdownGraceMs,
    open: async (stop) => {
      const catalog = options.catalog ?? loadAgentCatalog(config.agentsDir);
      const domain = options.domain ?? config.domainType ?? (catalog.allDomains ?? []).find((d) => kindOf(d).isMemory)?.name;
      if (!domain) {
        throw new DanError('bad_config', `no memory domain in ${catalog.dir}: add elf/domain.md there with 'handler: elf' (see the agents folder dan ships), or set DOMAIN_TYPE`, { exitCode: 2 });
      }
      // Opening the stores first: a corrupt database refuses to start ELF, naming the file.
      const stores = new ElfStores(config.elf.dir, {
        clock, trailHalfLifeMs: config.elf.trailHalfLifeHours * 3_600_000,
        ...(config.elf.clients ? { allowedClients: config.elf.clients } : {}),
      });
      // Every database there is opened now, so a corrupt one stops ELF at start, named, not mid-run.
      for (const client of config.elf.clients ?? ['default', ...existingClients(config.elf.dir)]) stores.get(client);
      opened.stores = stores;
      const conn = await openAgentConnections(config, agentId, logger).catch((error: unknown) => { stores.closeAll(); throw error; });
      const { redis, keys, registry } = conn;
      // Two more blocking connections: the request, event and task loops each block on their own.
      const extra = await Promise.all([
        connectRedis(config.redisUrl, { name: `${agentId}:events`, logger, blocking: true }),
        connectRedis(config.redisUrl, { name: `${agentId}:tasks`, logger, blocking: true }),
      ]).catch((error: unknown) => { conn.close(); stores.closeAll(); throw error; });
      const [events, taskReader] = extra;
      const heartbeat = new AgentHeartbeat(registry, agentId, config.heartbeatIntervalMs, logger, () => void stop());

      let model: Promise<ModelAccess> | undefined;
      // Loaded on first use: an ELF that only records never pays for the model SDK.
      const modelAccess = () => (model ??= import('../../lib/llm/create-llm-client.js').then((m) => m.createModelAccess(config, logger)));
      // A failed task's postmortem is a task of this domain: its model call is priced and budgeted as any task's.
      const onFailed = config.elf.postmortem ? (failed: FailedTask) => {
        void submitTask(redis, keys, postmortemTask(failed, domain))
          .then(({ taskId }) => logger.info({ taskId, failedTaskId: failed.taskId, domain: failed.domain }, 'postmortem queued'))
          .catch((error: unknown) => logger.warn({ taskId: failed.taskId, err: toFailure(error).message }, 'could not queue the postmortem of a failed task'));
      } : undefined;
      const learnable = (taskDomain: string) => taskDomain !== domain && learnsFrom(catalog, taskDomain);
      const learn = (fields: Record<string, string>) => recordFinishedTask(fields, { redis, keys, stores, logger, learnsFrom: learnable, ...(onFailed ? { onFailed } : {}) });
      const eventConsumer = new EventConsumer({
        redis, blocking: events, stream: keys.events(), group: EVENTS_GROUP, consumer: agentId, logger, clock,
        adoptEveryMs: options.adoptEveryMs ?? ADOPT_EVERY_MS,
      });
      const loops: AgentLoop[] = [
        elfRequestLoop({ redis, blocking: conn.blocking, keys, stores, logger, clock }),
        { name: 'task events', run: (signal) => eventConsumer.run(learn, signal) },
      ];
      const consumer = new TaskConsumer({
        redis, blocking: taskReader, keys, queue: new TaskQueue(redis, keys, queueOptions(config, domain, agentId)), agentId, logger,
        concurrency: 2, leaseMs: config.leaseMs, idleMs: 0,
        onStatus: (status) => heartbeat.setStatus(agentId, status),
        handler: async (ctx) => {
          const answerModel = { client: async () => (await modelAccess()).client, model: resolveModel(config, undefined) };
          const failed = postmortemOf(ctx.task);
          return failed ? runPostmortemTask(ctx, failed, stores, answerModel) : answerQuestion(ctx, stores, answerModel);
        },
      });
      return {
        register: async () => {
          await registry.register({ agentId, role: 'domain', domain, extra: { pid: String(process.pid), host: os.hostname() } });
          logger.info({ dir: config.elf.dir }, 'ELF memory up');
        },
        heartbeat, consumer, loops,
        beforeDeregister: async () => {
          if (model) await (await model).close().catch(() => undefined);
        },
        deregister: () => registry.deregister(agentId, 'domain', domain),
        reachable: () => redis.status === 'ready',
        close: () => {
          events.disconnect();
          taskReader.disconnect();
          conn.close();
          stores.closeAll();
        },
      };
    },
  });
  return lifecycle;
}

function existingClients(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => name.endsWith('.sqlite')).map((name) => name.slice(0, -'.sqlite'.length));
  } catch {
    return [];
  }
}
