#!/usr/bin/env node
import { loadConfig } from '../lib/config.js';
import { DanError } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import type { ModelAccess } from '../lib/llm/create-llm-client.js';
import { instanceSuffix } from '../lib/spawner/spawner.js';
import { startDomainOrchestrator } from './domain/domain-orchestrator.js';

/**
 * The entry point of a spawned agent (a local process or a container): AGENT_ROLE, AGENT_ID,
 * DOMAIN_TYPE and REDIS_URL say what to be. Exits 0 after a clean stop (idle, SIGTERM), 2 on bad
 * configuration, 3 when Redis does not answer.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  if (config.agentRole !== 'domain') {
    throw new DanError('bad_role', `AGENT_ROLE must be 'domain' for this entry point (got '${config.agentRole ?? ''}'); the main orchestrator runs with 'dan up'`, { exitCode: 2 });
  }
  const domain = config.domainType;
  if (!domain) throw new DanError('bad_config', 'DOMAIN_TYPE is not set: say which domain this agent serves', { exitCode: 2 });
  const agentId = config.agentId ?? `${domain}-${instanceSuffix()}`;
  const logger = createLogger({ level: config.logLevel, base: { agentId, domain } });
  let model: Promise<ModelAccess> | undefined;
  const running = await startDomainOrchestrator({
    config, domain, agentId, logger,
    // Loaded on first use: an idle or echo-only domain never pays for the SDK (start-up time, memory).
    llm: async () => (await (model ??= import('../lib/llm/create-llm-client.js').then((m) => m.createModelAccess(config, logger)))).client,
  });
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping: finishing or handing back work in flight');
    void running.stop();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await running.done;
  if (model) await (await model).close();
  logger.flush?.();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const code = error instanceof DanError ? error.exitCode : 1;
    process.stderr.write(`dan agent: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(code);
  },
);
