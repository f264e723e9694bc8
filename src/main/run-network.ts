import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { formatLogLine, knownSecrets, redactText, resolveFormat } from '../../lib/logger.js';
import type { ModelAccess } from '../../lib/llm/create-llm-client.js';
import { createModelAccess } from '../../lib/llm/create-llm-client.js';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { offeredDomains } from '../../lib/agents/domain-kinds.js';
import { createSpawner } from '../../lib/spawner/create-spawner.js';
import type { Spawner } from '../../lib/spawner/spawner.js';
import type { DomainSupervisor, SupervisorEvent } from './domain-supervisor.js';
import type { RunningMain } from './main-orchestrator.js';
import { startMainOrchestrator } from './main-orchestrator.js';
import { networkEnv } from './network-env.js';
import { startGateway, type RunningGateway } from './start-gateway.js';
import { startMetricsServer, type RunningMetricsServer } from '../metrics/metrics-server.js';
import { hostBashWarning } from '../../lib/workspace/workspace-jail.js';
import { commandSandbox } from '../../lib/sandbox/resolve-sandbox.js';

export interface RunningNetwork {
  main: RunningMain;
  spawner: Spawner;
  model: ModelAccess;
  gateway: RunningGateway;
  /** The /metrics listener, when DAN_METRICS_PORT is set. */
  metrics: RunningMetricsServer | undefined;
  stop(): Promise<void>;
}

export interface RunNetworkOptions {
  config: Config;
  logger: Logger;
  redisUrl: string;
  /**
   * The Redis URL the domain agents get; default `redisUrl`. `dan up`'s private Redis gives them a
   * user of their own that cannot touch the model gateway's tokens (lib/redis/acl.ts); compose runs
   * one password for every container.
   */
  agentRedisUrl?: string;
  /** The main orchestrator's id; default `main-{8 hex}`. */
  agentId?: string;
  onEvent?: (event: SupervisorEvent) => void;
  /** Each output line of a spawned domain agent (JSON log lines), e.g. to show them formatted. */
  onAgentLine?: (agentId: string, line: string) => void;
  /** Where the model key is read; default: this process's environment. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The network: model access (the API, or the local scripted server), the configured spawner for
 * domain agents (processes or containers), and the main orchestrator. What `dan up`, `dan demo` and
 * the main orchestrator's container run.
 */
export async function runNetwork(options: RunNetworkOptions): Promise<RunningNetwork> {
  const { config, logger } = options;
  const catalog = loadAgentCatalog(config.agentsDir);
  // Process agents' output goes to the log stream too (containers' is read from Docker); lines
  // printed before the supervisor exists wait for it, up to a bound.
  const sink: { supervisor?: DomainSupervisor } = {};
  const early: [string, string][] = [];
  const onLine = (agentId: string, line: string): void => {
    options.onAgentLine?.(agentId, line);
    if (config.spawner !== 'process') return;
    if (sink.supervisor) sink.supervisor.recordAgentOutput(agentId, line);
    else if (early.length < 1_000) early.push([agentId, line]);
  };
  // The spawner first: a missing Docker engine or image is reported before anything else starts.
  const bareSpawner = await createSpawner({ config, logger, catalog, onLine, ...(options.env ? { env: options.env } : {}) });
  let model: ModelAccess;
  let gateway: RunningGateway;
  try {
    model = await createModelAccess(config, logger, options.env ?? process.env);
  } catch (error) {
    await bareSpawner.close(0).catch(() => undefined);
    throw error;
  }
  try {
    const domains = offeredDomains(catalog, { elfEnabled: config.elf.enabled }).map((d) => d.name);
    gateway = await startGateway(config, logger, options.redisUrl, model, bareSpawner, domains, options.env ?? process.env);
  } catch (error) {
    await bareSpawner.close(0).catch(() => undefined);
    await model.close();
    throw error;
  }
  const spawner = gateway.spawner;
  // The model settings (the gateway's URL and the agent's own token) are added per agent by the spawner.
  const agentEnv = networkEnv(config, options.agentRedisUrl ?? options.redisUrl);
  logger.info(`model: ${model.description}`);
  logger.info({ spawner: spawner.kind, ...(spawner.kind === 'docker' || spawner.kind === 'swarm' ? { image: config.docker.image, network: spawner.kind === 'swarm' ? config.docker.swarmNetwork : config.docker.network } : {}) },
    spawner.startsAgents === false ? 'domains are started outside this process and adopted by their heartbeats; desired agents per domain are published (dan agents, /metrics)' : 'domains start on demand');
  // Domains on this host share its sandbox: said once at start; Bash reaches the user's rights only where it is off.
  const sandbox = spawner.kind === 'docker' || spawner.kind === 'swarm' || spawner.kind === 'external' ? undefined : commandSandbox(config.sandbox, logger);
  const bashWarning = sandbox?.kind === 'bubblewrap' || sandbox?.kind === 'refused' ? undefined : hostBashWarning(catalog.domains, spawner.kind);
  if (bashWarning) logger.warn(bashWarning);
  let main: RunningMain;
  let metrics: RunningMetricsServer | undefined;
  try {
    // First, so a port in use stops the start before any domain is spawned.
    if (config.metrics.port > 0) metrics = await startMetricsServer({ config, logger, redisUrl: options.redisUrl });
    // Before the supervisor counts on the agents it adopts: isolated containers reach Redis and the gateway through this process.
    await spawner.openServices?.(agentEnv);
    main = await startMainOrchestrator({
      config, logger, spawner, catalog,
      ...(options.agentId ? { agentId: options.agentId } : {}),
      agentEnv,
      llm: async () => model.client,
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
  } catch (error) {
    await metrics?.stop();
    await spawner.close(0).catch(() => undefined);
    await gateway.stop();
    await model.close();
    throw error;
  }
  sink.supervisor = main.supervisor;
  for (const [agentId, line] of early.splice(0)) main.supervisor.recordAgentOutput(agentId, line);
  return {
    main, model, spawner, gateway, metrics,
    stop: async () => {
      await metrics?.stop();
      await main.stop();
      await gateway.stop();
      await model.close();
    },
  };
}

/** Shows a spawned agent's JSON log line the way this process logs its own. */
export function echoAgentLine(raw: string): void {
  // Agents redact their own log lines; their other output (a crash, a stack trace) is scrubbed here.
  const line = redactText(raw, knownSecrets());
  const colour = Boolean(process.stderr.isTTY) && !process.env['NO_COLOR'];
  const pretty = resolveFormat() === 'pretty' && line.startsWith('{');
  process.stderr.write(`${pretty ? formatLogLine(line, colour) : line}\n`);
}
