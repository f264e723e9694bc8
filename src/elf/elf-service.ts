import { readdirSync } from 'node:fs';
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import { resolveModel } from '../../lib/config.js';
import type { ModelAccess } from '../../lib/llm/create-llm-client.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { DanError, toFailure } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ElfReply } from '../../lib/elf/elf-protocol.js';
import { elfRequestSchema } from '../../lib/elf/elf-protocol.js';
import { ElfStores } from '../../lib/elf/elf-stores.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { TaskQueue, queueOptions } from '../../lib/redis/task-queue.js';
import { AgentHeartbeat } from '../../lib/runtime/agent-heartbeat.js';
import { openAgentConnections } from '../../lib/runtime/agent-connections.js';
import { TaskConsumer } from '../../lib/runtime/task-consumer.js';
import { answerQuestion } from './elf-answer.js';
import { handleElfRequest } from './elf-requests.js';
import { recordFinishedTask, type FailedTask } from './elf-outcomes.js';
import { runPostmortem } from './elf-postmortem.js';

/** The domain name ELF serves on the bus. */
export const ELF_DOMAIN = 'elf';
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
}

export interface RunningElf {
  agentId: string;
  stores: ElfStores;
  done: Promise<'stopped'>;
  stop(): Promise<void>;
}

/**
 * The ELF memory as a domain on the bus, the one process that writes its databases. Three loops:
 * requests on `dan:elf:requests` (context for workers, search, records, for the CLI and MCP), the
 * network's own `task.finished` events (a consumer group on `dan:events`, so what happened while ELF
 * was down is caught up when it returns), and tasks sent to the `elf` domain (questions to memory).
 */
export async function startElfService(options: ElfServiceOptions): Promise<RunningElf> {
  const { config, agentId, logger } = options;
  const clock = options.clock ?? systemClock;
  const adoptEveryMs = options.adoptEveryMs ?? ADOPT_EVERY_MS;
  // Opening the stores first: a corrupt database refuses to start ELF, naming the file.
  const stores = new ElfStores(config.elf.dir, {
    clock, trailHalfLifeMs: config.elf.trailHalfLifeHours * 3_600_000,
    ...(config.elf.clients ? { allowedClients: config.elf.clients } : {}),
  });
  // Every database there is opened now, so a corrupt one stops ELF at start, named, not mid-run.
  const clients = config.elf.clients ?? ['default', ...existingClients(config.elf.dir)];
  for (const client of clients) stores.get(client);
  const conn = await openAgentConnections(config, agentId, logger);
  const { redis, keys, registry } = conn;
  // One more blocking connection: the request loop and the event loop each block on their own.
  const events = await connectRedis(config.redisUrl, { name: `${agentId}:events`, logger, blocking: true });
  await registry.register({ agentId, role: 'domain', domain: ELF_DOMAIN, extra: { pid: String(process.pid), host: os.hostname() } });
  let stopping: Promise<void> | undefined;
  const heartbeat = new AgentHeartbeat(registry, agentId, config.heartbeatIntervalMs, logger, () => void stop());
  heartbeat.start();
  let running = true;

  const requests = (async () => {
    while (running) {
      let popped: [string, string] | null;
      try {
        popped = await conn.blocking.brpop(keys.elfRequests(), 1);
      } catch (error) {
        if (running) logger.warn({ err: (error as Error).message }, 'reading ELF requests failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      if (!popped) continue;
      await serveRequest(popped[1]);
    }
  })();

  async function serveRequest(raw: string): Promise<void> {
    let parsed;
    try {
      parsed = elfRequestSchema.parse(JSON.parse(raw));
    } catch (error) {
      logger.warn({ err: toFailure(error).message, raw: raw.slice(0, 200) }, 'dropped a malformed ELF request');
      return;
    }
    if (parsed.deadline !== undefined && parsed.deadline < clock.now()) {
      logger.debug({ op: parsed.op, id: parsed.id }, 'skipped an ELF request its caller no longer waits for');
      return;
    }
    let reply: ElfReply;
    try {
      const result = await handleElfRequest(parsed, { stores, logger });
      reply = { id: parsed.id, ok: true, result };
    } catch (error) {
      const failure = toFailure(error);
      reply = { id: parsed.id, ok: false, error: { code: error instanceof DanError ? error.code : 'elf_error', message: failure.message } };
      logger.info({ op: parsed.op, client: parsed.client_id, err: failure.message }, 'ELF request refused');
    }
    await redis.publish(parsed.reply_to, JSON.stringify(reply)).catch((error: Error) => logger.warn({ err: error.message }, 'could not publish an ELF reply'));
  }

  // Postmortems of failed tasks run one at a time beside the event loop, which they never hold up.
  let model: Promise<ModelAccess> | undefined;
  // Loaded on first use: an ELF that only records never pays for the model SDK.
  const modelAccess = () => (model ??= import('../../lib/llm/create-llm-client.js').then((m) => m.createModelAccess(config, logger)));
  let postmortems: Promise<void> = Promise.resolve();
  const onFailed = config.elf.postmortem ? (failed: FailedTask) => {
    postmortems = postmortems.then(async () => {
      if (!running) return;
      const access = await modelAccess();
      const done = await runPostmortem({ client: access.client, model: resolveModel(config, undefined), memory: stores.get(failed.clientId), ...failed });
      if (done.ok) logger.info({ taskId: failed.taskId, domain: failed.domain, heuristics: done.heuristicIds }, 'postmortem proposed heuristics');
      else logger.info({ taskId: failed.taskId, problem: done.problem }, 'postmortem gave nothing usable');
    }).catch((error: unknown) => logger.warn({ taskId: failed.taskId, err: toFailure(error).message }, 'postmortem failed'));
  } : undefined;
  const learn = (fields: Record<string, string>) => recordFinishedTask(fields, { redis, keys, stores, logger, ...(onFailed ? { onFailed } : {}) });

  const outcomes = (async () => {
    await ensureGroup(redis, keys.events());
    // First what this consumer read and did not acknowledge before (a crash), then new events; and
    // every half minute, what a consumer that died (an earlier ELF) left unacknowledged.
    let cursor = '0';
    let lastAdopted = 0;
    while (running) {
      try {
        if (cursor === '>' && clock.now() - lastAdopted >= adoptEveryMs) {
          lastAdopted = clock.now();
          await adoptAbandoned();
        }
        const batch = (cursor === '0'
          ? await events.xreadgroup('GROUP', EVENTS_GROUP, agentId, 'COUNT', 100, 'STREAMS', keys.events(), cursor)
          : await events.xreadgroup('GROUP', EVENTS_GROUP, agentId, 'COUNT', 100, 'BLOCK', 1_000, 'STREAMS', keys.events(), cursor)) as [string, [string, string[]][]][] | null;
        const entries = batch?.[0]?.[1] ?? [];
        if (cursor === '0' && entries.length === 0) {
          cursor = '>';
          continue;
        }
        for (const [id, fields] of entries) {
          await learn(fieldsOf(fields));
          await redis.xack(keys.events(), EVENTS_GROUP, id);
        }
      } catch (error) {
        if (!running) break;
        logger.warn({ err: toFailure(error).message }, 'reading task events failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  })();

  /**
   * Takes over events another ELF consumer read and did not acknowledge for a while (it died), and
   * forgets consumers that have nothing pending and have been silent for an hour.
   */
  async function adoptAbandoned(): Promise<void> {
    let start = '0-0';
    do {
      const [next, claimed] = await redis.xautoclaim(keys.events(), EVENTS_GROUP, agentId, adoptEveryMs, start, 'COUNT', 100) as [string, [string, string[]][]];
      for (const [id, fields] of claimed) {
        if (!fields) continue;
        await learn(fieldsOf(fields));
        await redis.xack(keys.events(), EVENTS_GROUP, id);
      }
      start = next;
    } while (start !== '0-0' && running);
    const consumers = (await redis.xinfo('CONSUMERS', keys.events(), EVENTS_GROUP)) as unknown[][];
    for (const entry of consumers) {
      const info = fieldsOf(entry.map(String));
      if (info['name'] !== agentId && info['pending'] === '0' && Number(info['idle']) > 3_600_000) {
        await redis.xgroup('DELCONSUMER', keys.events(), EVENTS_GROUP, info['name']!);
      }
    }
  }

  const queue = new TaskQueue(redis, keys, queueOptions(config, ELF_DOMAIN, agentId));
  const taskReader = await connectRedis(config.redisUrl, { name: `${agentId}:tasks`, logger, blocking: true });
  const consumer = new TaskConsumer({
    redis, blocking: taskReader, keys, queue, agentId, logger,
    concurrency: 2, leaseMs: config.leaseMs, idleMs: 0,
    onStatus: (status) => heartbeat.setStatus(agentId, status),
    handler: async (ctx) => answerQuestion(ctx, stores, { client: async () => (await modelAccess()).client, model: resolveModel(config, undefined) }),
  });
  const consuming = consumer.start();
  logger.info({ dir: config.elf.dir }, 'ELF memory up');

  function stop(): Promise<void> {
    stopping ??= (async () => {
      running = false;
      await consumer.stop(config.shutdownGraceMs);
      await consuming;
      conn.blocking.disconnect();
      events.disconnect();
      taskReader.disconnect();
      await Promise.allSettled([requests, outcomes, postmortems]);
      if (model) await (await model).close().catch(() => undefined);
      heartbeat.stop();
      await registry.deregister(agentId, 'domain', ELF_DOMAIN).catch(() => undefined);
      conn.close();
      stores.closeAll();
    })();
    return stopping;
  }
  const done = consuming.then(async () => { await stop(); return 'stopped' as const; });
  return { agentId, stores, done, stop };
}

async function ensureGroup(redis: Redis, stream: string): Promise<void> {
  try {
    // From the start of the stream: events of tasks that ended before ELF first ran are learned too.
    await redis.xgroup('CREATE', stream, EVENTS_GROUP, '0', 'MKSTREAM');
  } catch (error) {
    if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
  }
}

function existingClients(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => name.endsWith('.sqlite')).map((name) => name.slice(0, -'.sqlite'.length));
  } catch {
    return [];
  }
}

function fieldsOf(list: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) fields[list[i]!] = list[i + 1]!;
  return fields;
}
