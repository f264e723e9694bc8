#!/usr/bin/env node
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../lib/config.js';
import { DanError } from '../lib/errors.js';
import { createLogger, knownSecrets, redactText, type Logger } from '../lib/logger.js';
import { startForwards } from '../lib/net/socket-forwarder.js';
import { exitIfStuck, stopProblemsMessage } from '../lib/runtime/agent-lifecycle.js';
import { domainAgentId } from '../lib/runtime/agent-id.js';
import { ownContainerId } from '../lib/runtime/container-id.js';
import { switchToRunAs } from '../lib/runtime/run-as.js';
import { instanceSuffix } from '../lib/spawner/spawner.js';
import { startAgent } from './start-agent.js';

/**
 * The entry point of an agent started by a spawner or in a container: AGENT_ROLE, AGENT_ID,
 * DOMAIN_TYPE and REDIS_URL say what to be. `main` runs the main orchestrator with the configured
 * spawner (the container form of `dan up`); `domain` runs one domain's orchestrator. Exits 0 after a
 * clean stop (idle, SIGTERM), 2 on bad configuration, 3 when Redis or the Docker engine does not answer.
 */
/**
 * The process that started this one: the pid the process spawner passes (so a parent that died while
 * this one was still loading is noticed too), else the parent at this point.
 */
const PARENT_PID = Number(process.env['DAN_PARENT_PID']) || process.ppid;

async function main(): Promise<void> {
  // Before anything is read or connected: a container's agent starts as root only to become DAN_RUN_AS.
  switchToRunAs(process.env, () => ownContainerId() !== undefined);
  const config = loadConfig();
  // Before anything connects: in an isolated container, REDIS_URL and ANTHROPIC_BASE_URL name these listeners.
  await startForwards(config.forwards, createLogger({ level: config.logLevel }));
  if (config.agentRole === 'main') return runMain(config);
  if (config.agentRole !== 'domain') {
    throw new DanError('bad_role', `AGENT_ROLE must be 'main' or 'domain' (got '${config.agentRole ?? ''}'); workers run inside their domain's orchestrator`, { exitCode: 2 });
  }
  const domain = config.domainType;
  if (!domain) throw new DanError('bad_config', 'DOMAIN_TYPE is not set: say which domain this agent serves', { exitCode: 2 });
  const containerId = ownContainerId();
  const agentId = config.agentId ?? domainAgentId(domain, config.agentIdFrom, { containerId, podUid: config.podUid });
  // A Kubernetes pod is a container too, though its runtime may not show the id ownContainerId reads.
  const inContainer = containerId !== undefined || config.podUid !== undefined;
  const logger = createLogger({ level: config.logLevel, base: { agentId, domain } });
  if (inContainer) recordAgentId(agentId, logger);
  // Watched from the start: the parent may die while this agent is still starting.
  const agent: { stop?: () => void } = {};
  if (!inContainer) stopWhenOrphaned(logger, () => (agent.stop ? agent.stop() : process.exit(0)), config.shutdownGraceMs);
  // Also from the start: the agent may beat (and be told to stop) before startAgent returns. A signal then
  // stops it as soon as it is up, handing back what it took, instead of the signal's default killing it.
  let stopAsked = false;
  onStopSignal(logger, () => (agent.stop ? agent.stop() : (stopAsked = true)), config.shutdownGraceMs);
  const running = await startAgent({ config, agentId, logger, ...(containerId ? { containerId } : {}) });
  agent.stop = () => void running.stop();
  if (stopAsked) agent.stop();
  const end = await running.done;
  if (end.problems.length > 0) throw new DanError('stop_incomplete', stopProblemsMessage(end));
  logger.flush?.();
}

/** The main orchestrator, as a container runs it: the same network `dan up` runs, without a private Redis. */
async function runMain(config: Config): Promise<void> {
  const agentId = config.agentId ?? `main-${instanceSuffix()}`;
  const logger = createLogger({ level: config.logLevel });
  if (ownContainerId()) recordAgentId(agentId, logger);
  const { runNetwork } = await import('./main/run-network.js');
  const { agentRedisUrlFromEnv } = await import('./main/network-env.js');
  // Taken from before the network starts, like a domain agent's: a signal while it starts stops it once it is up.
  const signalled = new Promise<false>((resolve) => onStopSignal(logger, () => resolve(false), config.shutdownGraceMs));
  const agentRedisUrl = agentRedisUrlFromEnv(config.redisUrl);
  const network = await runNetwork({ config, agentId, logger, redisUrl: config.redisUrl, ...(agentRedisUrl ? { agentRedisUrl } : {}) });
  logger.info({ agentId: network.main.agentId, spawner: config.spawner }, 'main orchestrator running; SIGTERM stops it');
  // A signal, or the orchestrator stopping on its own (another main took its place): either way the
  // process ends rather than lingering with nothing to do.
  const replaced = await Promise.race([signalled, network.main.stopped.then(() => true)]);
  await network.stop();
  logger.flush?.();
  const end = await network.main.lifecycle.done;
  if (end.problems.length > 0) throw new DanError('stop_incomplete', stopProblemsMessage(end));
  if (replaced) throw new DanError('main_replaced', `main orchestrator ${network.main.agentId} was deregistered and another one now serves this network`);
}

/**
 * SIGTERM or SIGINT: stop as `stop` does. The lifecycle's own bound ends stopping; should a part hang
 * anyway, the backstop exits 1 after the grace plus STOP_BOUND_MS rather than hang.
 */
function onStopSignal(logger: Logger, stop: () => void, graceMs: number): void {
  const handler = (signal: string) => {
    logger.info({ signal }, 'stopping: finishing or handing back work in flight');
    exitIfStuck(logger, graceMs);
    stop();
  };
  process.once('SIGTERM', () => handler('SIGTERM'));
  process.once('SIGINT', () => handler('SIGINT'));
}

/**
 * A domain process whose parent (`dan up`, the main orchestrator) died without stopping it, a SIGKILL
 * say, is no longer supervised: nothing would ever stop it, and it would keep retrying a Redis that may
 * be gone for good. It stops as on SIGTERM (hands back its work, deregisters, exits 0); the next main
 * orchestrator starts fresh agents. Not in a container, where the parent is `tini`.
 */
function stopWhenOrphaned(logger: Logger, stop: () => void, graceMs: number): void {
  // The parent at launch: start-up takes a while, and the parent may be gone before it is done.
  const parent = PARENT_PID;
  if (parent <= 1) return;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    logger.warn({ parentPid: parent }, 'the process that started this agent is gone; stopping');
    exitIfStuck(logger, graceMs);
    stop();
  }, 1_000);
  timer.unref();
}

/** Where the container's health check finds the id of the agent whose heartbeat it checks (in a container only: host processes would overwrite each other's). */
function recordAgentId(agentId: string, logger: Logger): void {
  try {
    writeFileSync(path.join(os.tmpdir(), 'dan-agent-id'), `${agentId}\n`);
  } catch (error) {
    logger.debug({ err: (error as Error).message }, 'could not record the agent id for the health check');
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const code = error instanceof DanError ? error.exitCode : 1;
    process.stderr.write(`dan agent: ${redactText(error instanceof Error ? error.message : String(error), knownSecrets())}\n`);
    process.exit(code);
  },
);
