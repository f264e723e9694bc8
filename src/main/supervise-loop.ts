import type { AgentCatalog } from '../../lib/agents/agent-definitions.js';
import { residentDomains } from '../../lib/agents/domain-kinds.js';
import type { Config } from '../../lib/config.js';
import { sleep } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { AgentConnections } from '../../lib/runtime/agent-connections.js';
import { followTaskNotifications } from '../../lib/redis/task-notifications.js';
import type { AgentLoop } from '../../lib/runtime/agent-lifecycle.js';
import type { Spawner } from '../../lib/spawner/spawner.js';
import type { SupervisorEvent } from './domain-supervisor.js';
import { DomainSupervisor } from './domain-supervisor.js';

export interface SuperviseLoopOptions {
  config: Config;
  /** The main orchestrator's logger (its lines carry the main agent's id). */
  logger: Logger;
  conn: AgentConnections;
  catalog: AgentCatalog;
  spawner: Spawner;
  agentEnv: Record<string, string>;
  onEvent?: (event: SupervisorEvent) => void;
}

/**
 * The main orchestrator's extra loop: a supervisor tick every DAN_SUPERVISE_INTERVAL_MS, and at once
 * (at most every 50 ms) when a task is announced on notifications:{domain}, so a cold domain starts
 * without waiting for a tick. When it stops, it closes the spawner: the domain agents get the same
 * grace as the main one, at the same time, plus 5 s to hand back, deregister and exit before they are killed.
 */
export function superviseLoop(o: SuperviseLoopOptions): { supervisor: DomainSupervisor; loop: AgentLoop } {
  const { config, conn, catalog } = o;
  const { redis, keys, registry } = conn;
  const supervisor = new DomainSupervisor({
    // Supervisor lines are about the domain agents they start: they carry that agent's id.
    redis, keys, registry, spawner: o.spawner, logger: o.logger,
    domains: () => catalog.domains.map((d) => d.name),
    // Resident kinds (the ELF memory) run whether or not work waits: it learns from every task that ends.
    resident: residentDomains(catalog, { elfEnabled: config.elf.enabled }),
    limits: { maxInstancesPerDomain: config.maxInstancesPerDomain, maxDomainAgents: config.maxDomainAgents, domainConcurrency: config.domainConcurrency },
    agentEnv: o.agentEnv, spawnTimeoutMs: config.spawnTimeoutMs,
    // 10 ticks: a push to an unknown domain is rare, and finding it means reading every key name.
    sweepEveryMs: config.superviseIntervalMs, scanEveryMs: config.superviseIntervalMs * 10,
    queue: config,
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
  });
  const run = async (signal: AbortSignal): Promise<void> => {
    let poked = false;
    let wake = new AbortController();
    // One poke per domain per supervise interval: under load every task is announced, and a tick per
    // task (a dozen queue reads each) would cost Redis more than the tasks themselves. A domain that
    // was announced within the interval has been looked at already, or is at the next tick.
    const lastPoke = new Map<string, number>();
    const onDomain = (channel: string) => {
      const now = Date.now();
      if (now - (lastPoke.get(channel) ?? 0) < config.superviseIntervalMs) return;
      lastPoke.set(channel, now);
      poked = true;
      wake.abort();
    };
    const unfollow = await followTaskNotifications(conn.subscriber, keys, onDomain);
    const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      while (!signal.aborted) {
        poked = false;
        wake = new AbortController();
        const started = Date.now();
        // Not waited for once stopping: a tick against a Redis that went away ends only with its retries.
        await Promise.race([supervisor.tick().catch((error: Error) => o.logger.warn({ err: error.message }, 'supervisor tick failed; retrying')), stopped]);
        const pause = poked ? Math.max(0, 50 - (Date.now() - started)) : config.superviseIntervalMs;
        await sleep(pause, AbortSignal.any([signal, ...(poked ? [] : [wake.signal])]));
      }
    } finally {
      unfollow();
      await o.spawner.close(config.shutdownGraceMs + 5_000);
    }
  };
  return { supervisor, loop: { name: 'domain supervisor', run } };
}
