import type { AgentCatalog } from '../lib/agents/agent-definitions.js';
import { loadAgentCatalog } from '../lib/agents/agent-catalog.js';
import type { DomainKindName } from '../lib/agents/domain-kinds.js';
import type { Config } from '../lib/config.js';
import { DanError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ModelAccess } from '../lib/llm/create-llm-client.js';
import type { AgentLifecycle, LifecycleEnd, LifecycleState } from '../lib/runtime/agent-lifecycle.js';
import { createDomainLifecycle } from './domain/domain-orchestrator.js';

export interface StartAgentOptions {
  /** Says the domain (DOMAIN_TYPE) and everything else; AGENT_ROLE is not read. */
  config: Config;
  agentId: string;
  logger: Logger;
  /** The container this agent runs in, recorded in the registry. */
  containerId?: string;
  /** Loaded from DAN_AGENTS_DIR when not given. */
  catalog?: AgentCatalog;
  /** Where the agent's secrets (the API key) are read: its own environment, which in process is not `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** A started agent of any domain kind. */
export interface RunningAgent {
  agentId: string;
  /** Settles once it stopped (idle, told to, deregistered), with what it could not hand back. */
  done: Promise<LifecycleEnd>;
  stop(): Promise<void>;
  readonly state: LifecycleState;
}

interface KindInputs extends StartAgentOptions {
  domain: string;
  catalog: AgentCatalog;
  /** Built on first use: an idle or echo-only agent never pays for the model SDK. */
  modelAccess: () => Promise<ModelAccess>;
}

/** How each kind of domain runs as an agent: a domain orchestrator with its kind's handler, or its own service. */
const AGENT_KINDS: Record<DomainKindName, (inputs: KindInputs) => Promise<AgentLifecycle>> = {
  workers: async (i) => domainLifecycle(i),
  farm: async (i) => domainLifecycle(i),
  elf: async (i) => (await import('./elf/elf-service.js')).createElfLifecycle({
    config: i.config, agentId: i.agentId, logger: i.logger, domain: i.domain, catalog: i.catalog,
  }),
};

function domainLifecycle(i: KindInputs): AgentLifecycle {
  return createDomainLifecycle({
    config: i.config, domain: i.domain, agentId: i.agentId, logger: i.logger, catalog: i.catalog,
    ...(i.containerId ? { containerId: i.containerId } : {}),
    llm: async () => (await i.modelAccess()).client,
    modelAccess: i.modelAccess,
  });
}

/**
 * Starts one agent of the domain `config.domainType`, whatever its kind: what the agent process runs
 * after reading its environment, without process signals or exit codes (those stay with the caller).
 * Rejects when the domain is unknown, or when Redis does not answer.
 */
export async function startAgent(options: StartAgentOptions): Promise<RunningAgent> {
  const { config, logger } = options;
  const domain = config.domainType;
  if (!domain) throw new DanError('bad_config', 'DOMAIN_TYPE is not set: say which domain this agent serves', { exitCode: 2 });
  const catalog = options.catalog ?? loadAgentCatalog(config.agentsDir);
  const definition = catalog.domain(domain);
  if (!definition) {
    throw new DanError('unknown_domain', `unknown domain '${domain}'; known domains: ${(catalog.allDomains ?? catalog.domains).map((d) => d.name).join(', ')} (add a folder under ${catalog.dir} to add one)`, { exitCode: 2 });
  }
  let model: Promise<ModelAccess> | undefined;
  const modelAccess = () => (model ??= import('../lib/llm/create-llm-client.js').then((m) => m.createModelAccess(config, logger, options.env ?? process.env)));
  const lifecycle = await AGENT_KINDS[definition.handler ?? 'workers']({ ...options, domain, catalog, modelAccess });
  const closeModel = async () => { if (model) await (await model).close().catch(() => undefined); };
  try {
    await lifecycle.start();
  } catch (error) {
    await closeModel();
    throw error;
  }
  const done = lifecycle.done.then(async (end) => { await closeModel(); return end; });
  return {
    agentId: options.agentId, done,
    stop: async () => { await lifecycle.stop(); await done; },
    get state() { return lifecycle.state; },
  };
}
