import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { AgentCatalog } from '../agents/agent-definitions.js';
import { kindOf } from '../agents/domain-kinds.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { ownContainerId } from '../runtime/container-id.js';
import { ExternalSpawner } from './external-spawner.js';
import { ISOLATED_NETWORK } from './isolated-network.js';
import { ProcessSpawner } from './process-spawner.js';
import type { Spawner } from './spawner.js';
import { MODEL_SECRETS } from './token-issuing-spawner.js';

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
 * The spawner `DAN_SPAWNER` names: child processes, containers on the Docker engine, services on a
 * Docker Swarm, or none at all (`external`: agents are started by whatever runs them, and adopted by
 * their heartbeats). The Docker and Swarm spawners (and dockerode) are loaded only when asked for.
 */
export async function createSpawner(options: CreateSpawnerOptions): Promise<Spawner> {
  const { config, logger, catalog } = options;
  const onLine = options.onLine ? { onLine: options.onLine } : {};
  // The model key stays in this process: agents get a gateway token instead (TokenIssuingSpawner).
  if (config.spawner === 'process') return new ProcessSpawner({ logger, baseEnv: withoutModelSecrets(options.env ?? process.env), ...onLine });
  if (config.spawner === 'external') return new ExternalSpawner(logger);
  const { DockerSpawner, networkIdentity } = await import('./docker-spawner.js');
  const d = config.docker;
  // A bind-mounted folder that does not exist would be created by Docker, owned by root.
  for (const folder of [d.workspace, d.elfStore]) if (path.isAbsolute(folder)) mkdirSync(folder, { recursive: true });
  const containers = {
    networkId: networkIdentity(config.redisUrl, config.keyPrefix, d.networkId),
    image: d.image,
    workspace: d.workspace,
    user: d.user,
    limits: { memoryBytes: d.memoryBytes, cpus: d.cpus, pids: d.pids },
    limitsFor: (domain: string) => catalog.domain(domain)?.container ?? {},
    tmpfsBytes: d.tmpfsBytes,
    elfStore: d.elfStore,
    ...(d.agentsDir ? { agentsDir: d.agentsDir } : {}),
    mountsFor: (domain: string) => kindOf(catalog.domain(domain)).mounts,
    logger,
  };
  if (config.spawner === 'swarm') {
    const { SwarmSpawner } = await import('./swarm-spawner.js');
    return SwarmSpawner.start({ ...containers, network: d.swarmNetwork, stopGraceMs: config.shutdownGraceMs + 5_000 });
  }
  if (d.network === ISOLATED_NETWORK && ownContainerId() !== undefined) {
    // The sockets' folder is this container's: an engine outside it mounts its own host's folder of that name.
    logger.warn("DAN_DOCKER_NETWORK=isolated (the default) serves the domains' sockets from a folder of this process, which runs in a container: unless the Docker engine runs in this container too, the domains cannot reach Redis; set DAN_DOCKER_NETWORK to a Docker network shared with Redis and this container (compose sets dan-network), or to host");
  }
  return DockerSpawner.start({
    ...containers,
    network: d.network,
    ...onLine,
  });
}

/** `env` without the model key or login, which only the model gateway in this process may hold. */
export function withoutModelSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = { ...env };
  for (const name of MODEL_SECRETS) delete kept[name];
  return kept;
}
