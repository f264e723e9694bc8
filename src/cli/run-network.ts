import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { formatLogLine, resolveFormat } from '../../lib/logger.js';
import type { ModelAccess } from '../../lib/llm/create-llm-client.js';
import { createModelAccess, modelEnv } from '../../lib/llm/create-llm-client.js';
import { ProcessSpawner } from '../../lib/spawner/process-spawner.js';
import type { SupervisorEvent } from '../main/domain-supervisor.js';
import type { RunningMain } from '../main/main-orchestrator.js';
import { startMainOrchestrator } from '../main/main-orchestrator.js';
import { networkEnv } from './network-env.js';

export interface RunningNetwork {
  main: RunningMain;
  model: ModelAccess;
  stop(): Promise<void>;
}

export interface RunNetworkOptions {
  config: Config;
  logger: Logger;
  redisUrl: string;
  onEvent?: (event: SupervisorEvent) => void;
  /** Each output line of a spawned domain agent (JSON log lines), e.g. to show them formatted. */
  onAgentLine?: (agentId: string, line: string) => void;
}

/**
 * The network on this machine: model access (the API, or the local scripted server), a process
 * spawner for domain agents, and the main orchestrator. What `dan up` and `dan demo` run.
 */
export async function runNetwork(options: RunNetworkOptions): Promise<RunningNetwork> {
  const { config, logger } = options;
  const model = await createModelAccess(config, logger);
  logger.info(`model: ${model.description}`);
  const spawner = new ProcessSpawner({ logger, ...(options.onAgentLine ? { onLine: options.onAgentLine } : {}) });
  const main = await startMainOrchestrator({
    config, logger, spawner,
    agentEnv: { ...networkEnv(config, options.redisUrl), ...modelEnv(model, config) },
    llm: async () => model.client,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  return {
    main, model,
    stop: async () => {
      await main.stop();
      await model.close();
    },
  };
}

/** Shows a spawned agent's JSON log line the way this process logs its own. */
export function echoAgentLine(line: string): void {
  const colour = Boolean(process.stderr.isTTY) && !process.env['NO_COLOR'];
  const pretty = resolveFormat() === 'pretty' && line.startsWith('{');
  process.stderr.write(`${pretty ? formatLogLine(line, colour) : line}\n`);
}
