import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { AgentCatalog } from '../agents/agent-definitions.js';
import { kindOf } from '../agents/domain-kinds.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { ProcessSpawner } from './process-spawner.js';
import type { Spawner } from './spawner.js';

export interface CreateSpawnerOptions {
  config: Config;
  logger: Logger;
  /** Per-domain container limits come from the domains' definitions. */
  catalog: AgentCatalog;
  /** Every output line of every agent as it arrives. */
  onLine?: (agentId: string, line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * The spawner `DAN_SPAWNER` names: child processes, or containers on the Docker engine. The Docker
 * spawner (and dockerode) is loaded only when asked for.
 */
export async function createSpawner(options: CreateSpawnerOptions): Promise<Spawner> {
  const { config, logger, catalog } = options;
  const onLine = options.onLine ? { onLine: options.onLine } : {};
  if (config.spawner === 'process') return new ProcessSpawner({ logger, ...onLine });
  const { DockerSpawner, networkIdentity } = await import('./docker-spawner.js');
  const d = config.docker;
  // A bind-mounted folder that does not exist would be created by Docker, owned by root.
  for (const folder of [d.workspace, d.elfStore]) if (path.isAbsolute(folder)) mkdirSync(folder, { recursive: true });
  const apiKey = (options.env ?? process.env)['ANTHROPIC_API_KEY'];
  return DockerSpawner.start({
    networkId: networkIdentity(config.redisUrl, config.keyPrefix, d.networkId),
    image: d.image,
    network: d.network,
    workspace: d.workspace,
    user: d.user,
    limits: { memoryBytes: d.memoryBytes, cpus: d.cpus, pids: d.pids },
    limitsFor: (domain) => catalog.domain(domain)?.container ?? {},
    tmpfsBytes: d.tmpfsBytes,
    elfStore: d.elfStore,
    ...(d.agentsDir ? { agentsDir: d.agentsDir } : {}),
    mountsFor: (domain) => kindOf(catalog.domain(domain)).mounts,
    ...(apiKey ? { secretEnv: { ANTHROPIC_API_KEY: apiKey } } : {}),
    logger,
    ...onLine,
  });
}
