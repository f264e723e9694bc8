import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseMemorySize } from './agents/agent-definitions.js';
import { InvalidInputError } from './errors.js';

/** The folder this package is installed in (holds `agents/`). Works from `lib/` and `dist/lib/`. */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..') : path.resolve(here, '..');
}

const ms = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);
const count = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * Every setting of the network, from the environment. Names and defaults are documented in the
 * README's configuration table; keep the two in step.
 */
const configSchema = z.object({
  REDIS_URL: z.string().default('redis://localhost:6379'),
  DAN_KEY_PREFIX: z.string().default(''),
  DAN_AGENTS_DIR: z.string().optional(),
  DAN_WORKSPACE: z.string().default('workspace'),
  DAN_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  DAN_ROUTER: z.enum(['score', 'llm']).default('score'),
  DAN_WORKER_SELECTOR: z.enum(['score', 'llm']).default('score'),
  DAN_WORKER_RUNTIME: z.enum(['sdk', 'claude-code']).default('sdk'),
  DAN_SPAWNER: z.enum(['process', 'docker']).default('process'),
  DAN_AGENT_IMAGE: z.string().default('dan/agent:latest'),
  DAN_NETWORK_ID: z.string().regex(/^[A-Za-z0-9_.:/#-]{1,200}$/, { error: 'must be letters, digits and _.:/#- (up to 200)' }).optional(),
  DAN_DOCKER_NETWORK: z.string().default('host'),
  DAN_DOCKER_WORKSPACE: z.string().optional(),
  DAN_DOCKER_ELF_STORE: z.string().optional(),
  DAN_DOCKER_AGENTS_DIR: z.string().optional(),
  DAN_DOCKER_USER: z.string().default('1000:1000'),
  DAN_DOCKER_MEMORY: z.string().default('1g').refine((v) => parseMemorySize(v) !== undefined, { error: 'must be a memory size such as 512m or 1g' }),
  DAN_DOCKER_CPUS: z.coerce.number().positive().default(0.5),
  DAN_DOCKER_PIDS: z.coerce.number().int().min(16).default(256),
  DAN_DOCKER_TMPFS_SIZE: z.string().default('256m').refine((v) => parseMemorySize(v) !== undefined, { error: 'must be a size such as 256m' }),

  DAN_ELF: z.enum(['on', 'off']).default('on'),
  DAN_ELF_DIR: z.string().default('.dan/elf'),
  DAN_ELF_CLIENTS: z.string().optional(),
  DAN_ELF_POSTMORTEM: z.enum(['on', 'off']).default('on'),
  DAN_ELF_TIMEOUT_MS: ms(2_000),
  DAN_ELF_BUDGET_TOKENS: count(1_500),
  DAN_ELF_TRAIL_HALF_LIFE_HOURS: z.coerce.number().positive().default(24),
  DAN_CLAUDE_PATH: z.string().optional(),
  DAN_FARM_AGENTS: count(3),
  DAN_FARM_MAX_AGENTS: count(8),
  DAN_FARM_RUNTIME: z.enum(['claude-code', 'sdk']).default('claude-code'),
  DAN_FARM_DIR: z.string().optional(),
  DAN_FARM_STUCK_MS: ms(300_000),
  DAN_FARM_RESTART_BASE_MS: ms(10_000),
  DAN_FARM_RESTART_MAX_MS: ms(300_000),
  DAN_FARM_MAX_RESTARTS: ms(3),
  DAN_FARM_CONTEXT_TOKENS: count(160_000),
  DAN_FARM_LOCK_MS: count(30_000),
  DAN_FARM_PROBLEMS_TIMEOUT_MS: count(600_000),
  DAN_LEASE_MS: ms(30_000),
  DAN_MAX_ATTEMPTS: count(3),
  DAN_RETRY_BASE_MS: ms(1_000),
  DAN_RETRY_MAX_MS: ms(60_000),
  DAN_MAX_QUEUE_DEPTH: ms(10_000),
  DAN_RETENTION_MS: ms(7 * 24 * 3600 * 1000),
  DAN_HEARTBEAT_INTERVAL_MS: ms(10_000),
  DAN_HEARTBEAT_TTL_MS: ms(30_000),
  DAN_SUPERVISE_INTERVAL_MS: ms(1_000),
  DAN_SPAWN_TIMEOUT_MS: ms(15_000),
  DAN_DOMAIN_IDLE_MS: ms(5 * 60_000),
  DAN_DOMAIN_CONCURRENCY: count(4),
  DAN_MAIN_CONCURRENCY: count(64),
  DAN_MAX_INSTANCES_PER_DOMAIN: count(2),
  DAN_MAX_DOMAIN_AGENTS: count(8),
  DAN_SHUTDOWN_GRACE_MS: ms(10_000),

  ANTHROPIC_BASE_URL: z.string().optional(),
  DAN_LLM: z.enum(['auto', 'anthropic', 'local']).default('auto'),
  DAN_LLM_URL: z.string().optional(),
  DAN_MOCK_LLM_RULES: z.string().optional(),
  DAN_LOCAL_LLM_LISTEN: z.string().regex(/^[^:\s]+:\d{1,5}$/, { error: 'must be host:port, such as 0.0.0.0:4010' }).optional(),
  DAN_LOCAL_LLM_ADVERTISE: z.string().url({ error: 'must be a URL, such as http://main-orchestrator:4010' }).optional(),
  DAN_MODEL_SONNET: z.string().default('claude-sonnet-5-5'),
  DAN_MODEL_OPUS: z.string().default('claude-opus-5-5'),
  DAN_MODEL_HAIKU: z.string().default('claude-haiku-5-5'),
  DAN_DEFAULT_MODEL: z.string().default('sonnet'),
  DAN_MAX_TURNS: count(20),
  DAN_LLM_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  DAN_MAX_TOKENS: count(8192),
  DAN_BASH_TIMEOUT_MS: ms(120_000),
  DAN_WORKERS_PER_TASK: count(3),

  AGENT_ROLE: z.enum(['main', 'domain', 'worker']).optional(),
  AGENT_ID: z.string().optional(),
  DOMAIN_TYPE: z.string().optional(),
});

type RawConfig = z.infer<typeof configSchema>;

export interface Config {
  redisUrl: string;
  keyPrefix: string;
  agentsDir: string;
  workspace: string;
  logLevel: RawConfig['DAN_LOG_LEVEL'];
  router: RawConfig['DAN_ROUTER'];
  workerSelector: RawConfig['DAN_WORKER_SELECTOR'];
  /** How workers run: our tool loop on the Anthropic SDK, or the Claude Code CLI. */
  workerRuntime: RawConfig['DAN_WORKER_RUNTIME'];
  spawner: RawConfig['DAN_SPAWNER'];
  docker: {
    /** Label value that tells this network's containers from another's on the same engine. */
    networkId: string | undefined;
    image: string;
    /** A network name, or `host`. */
    network: string;
    /** Mounted at /workspace in domain containers: an absolute host path, or a named volume. */
    workspace: string;
    /** Mounted at /data/elf in the elf domain's container: an absolute host path, or a named volume. */
    elfStore: string;
    /** Mounted read-only as the agents folder of domain containers, so a new domain needs no image rebuild; the image's own when unset. */
    agentsDir: string | undefined;
    user: string;
    memoryBytes: number;
    cpus: number;
    pids: number;
    tmpfsBytes: number;
  };
  elf: {
    /** Workers ask the ELF memory for context, and main keeps the elf domain running. */
    enabled: boolean;
    /** Folder of the per-client databases. */
    dir: string;
    /** When set, the only clients served; a request for any other is refused. */
    clients: string[] | undefined;
    /** After a task fails, ask the model why and record the lessons it proposes. */
    postmortem: boolean;
    /** How long a worker waits for its context before it goes on without memory. */
    timeoutMs: number;
    budgetTokens: number;
    trailHalfLifeHours: number;
  };
  /** The Claude Code CLI, when DAN_CLAUDE_PATH names one (else the package's own, else `claude` on the PATH). */
  claudePath: string | undefined;
  farm: {
    /** Agents of a farm that does not say how many. */
    agents: number;
    /** The most agents one farm may ask for. */
    maxAgents: number;
    runtime: RawConfig['DAN_FARM_RUNTIME'];
    /** Folder of the agents' git worktrees. */
    dir: string;
    stuckMs: number;
    restartBaseMs: number;
    restartMaxMs: number;
    maxRestarts: number;
    contextTokens: number;
    lockMs: number;
    problemsTimeoutMs: number;
  };
  leaseMs: number;
  maxAttempts: number;
  /** Backoff of retries: the first waits between half and all of `retryBaseMs`, doubling up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Most tasks that may wait in one domain's queue (0: no limit). */
  maxQueueDepth: number;
  retentionMs: number;
  heartbeatIntervalMs: number;
  heartbeatTtlMs: number;
  superviseIntervalMs: number;
  spawnTimeoutMs: number;
  domainIdleMs: number;
  domainConcurrency: number;
  mainConcurrency: number;
  maxInstancesPerDomain: number;
  maxDomainAgents: number;
  shutdownGraceMs: number;
  llm: {
    mode: RawConfig['DAN_LLM'];
    /** Only whether a key is set: the key itself is read where the client is built. */
    hasApiKey: boolean;
    baseUrl: string | undefined;
    localUrl: string | undefined;
    rulesFile: string | undefined;
    /** `host:port` the in-process local model server listens on; default 127.0.0.1 on a free port. */
    localListen: string | undefined;
    /** The URL spawned agents use to reach that server, when it is not the address it listens on. */
    localAdvertise: string | undefined;
    models: Record<'sonnet' | 'opus' | 'haiku', string>;
    defaultModel: string;
    maxTurns: number;
    maxTokens: number;
    /** Quick retries of one model call inside the SDK; past them the task itself is retried with backoff. */
    maxRetries: number;
  };
  bashTimeoutMs: number;
  workersPerTask: number;
  agentRole: RawConfig['AGENT_ROLE'];
  agentId: string | undefined;
  domainType: string | undefined;
}

/**
 * Parses the environment once, listing every problem at once, and returns a frozen config.
 * `overrides` (from CLI flags) win over the environment.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof RawConfig, string>> = {}): Readonly<Config> {
  const source: Record<string, string | undefined> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = overrides[key as keyof RawConfig] ?? env[key];
    source[key] = value === '' && key !== 'DAN_KEY_PREFIX' ? undefined : value;
  }
  const parsed = configSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`).join('\n');
    throw new InvalidInputError(`invalid configuration:\n${problems}`);
  }
  const c = parsed.data;
  if (c.DAN_HEARTBEAT_TTL_MS <= c.DAN_HEARTBEAT_INTERVAL_MS) {
    throw new InvalidInputError(
      `invalid configuration: DAN_HEARTBEAT_TTL_MS (${c.DAN_HEARTBEAT_TTL_MS}) must be larger than DAN_HEARTBEAT_INTERVAL_MS (${c.DAN_HEARTBEAT_INTERVAL_MS})`,
    );
  }
  return Object.freeze({
    redisUrl: c.REDIS_URL,
    keyPrefix: c.DAN_KEY_PREFIX,
    agentsDir: path.resolve(c.DAN_AGENTS_DIR ?? path.join(packageRoot(), 'agents')),
    workspace: path.resolve(c.DAN_WORKSPACE),
    logLevel: c.DAN_LOG_LEVEL,
    router: c.DAN_ROUTER,
    workerSelector: c.DAN_WORKER_SELECTOR,
    workerRuntime: c.DAN_WORKER_RUNTIME,
    spawner: c.DAN_SPAWNER,
    docker: {
      networkId: c.DAN_NETWORK_ID,
      image: c.DAN_AGENT_IMAGE,
      network: c.DAN_DOCKER_NETWORK,
      workspace: c.DAN_DOCKER_WORKSPACE ?? path.resolve(c.DAN_WORKSPACE),
      elfStore: c.DAN_DOCKER_ELF_STORE ?? path.resolve(c.DAN_ELF_DIR),
      agentsDir: c.DAN_DOCKER_AGENTS_DIR === undefined ? undefined : path.resolve(c.DAN_DOCKER_AGENTS_DIR),
      user: c.DAN_DOCKER_USER,
      memoryBytes: parseMemorySize(c.DAN_DOCKER_MEMORY) ?? 1024 ** 3,
      cpus: c.DAN_DOCKER_CPUS,
      pids: c.DAN_DOCKER_PIDS,
      tmpfsBytes: parseMemorySize(c.DAN_DOCKER_TMPFS_SIZE) ?? 256 * 1024 ** 2,
    },
    elf: {
      enabled: c.DAN_ELF === 'on',
      dir: path.resolve(c.DAN_ELF_DIR),
      postmortem: c.DAN_ELF_POSTMORTEM === 'on',
      clients: c.DAN_ELF_CLIENTS ? c.DAN_ELF_CLIENTS.split(',').map((id) => id.trim()).filter((id) => id !== '') : undefined,
      timeoutMs: c.DAN_ELF_TIMEOUT_MS,
      budgetTokens: c.DAN_ELF_BUDGET_TOKENS,
      trailHalfLifeHours: c.DAN_ELF_TRAIL_HALF_LIFE_HOURS,
    },
    claudePath: c.DAN_CLAUDE_PATH,
    farm: {
      agents: c.DAN_FARM_AGENTS,
      maxAgents: c.DAN_FARM_MAX_AGENTS,
      runtime: c.DAN_FARM_RUNTIME,
      dir: path.resolve(c.DAN_FARM_DIR ?? path.join(os.tmpdir(), 'dan-farm')),
      stuckMs: c.DAN_FARM_STUCK_MS,
      restartBaseMs: c.DAN_FARM_RESTART_BASE_MS,
      restartMaxMs: c.DAN_FARM_RESTART_MAX_MS,
      maxRestarts: c.DAN_FARM_MAX_RESTARTS,
      contextTokens: c.DAN_FARM_CONTEXT_TOKENS,
      lockMs: c.DAN_FARM_LOCK_MS,
      problemsTimeoutMs: c.DAN_FARM_PROBLEMS_TIMEOUT_MS,
    },
    leaseMs: c.DAN_LEASE_MS,
    maxAttempts: c.DAN_MAX_ATTEMPTS,
    retryBaseMs: c.DAN_RETRY_BASE_MS,
    retryMaxMs: Math.max(c.DAN_RETRY_MAX_MS, c.DAN_RETRY_BASE_MS),
    maxQueueDepth: c.DAN_MAX_QUEUE_DEPTH,
    retentionMs: c.DAN_RETENTION_MS,
    heartbeatIntervalMs: c.DAN_HEARTBEAT_INTERVAL_MS,
    heartbeatTtlMs: c.DAN_HEARTBEAT_TTL_MS,
    superviseIntervalMs: c.DAN_SUPERVISE_INTERVAL_MS,
    spawnTimeoutMs: c.DAN_SPAWN_TIMEOUT_MS,
    domainIdleMs: c.DAN_DOMAIN_IDLE_MS,
    domainConcurrency: c.DAN_DOMAIN_CONCURRENCY,
    mainConcurrency: c.DAN_MAIN_CONCURRENCY,
    maxInstancesPerDomain: c.DAN_MAX_INSTANCES_PER_DOMAIN,
    maxDomainAgents: c.DAN_MAX_DOMAIN_AGENTS,
    shutdownGraceMs: c.DAN_SHUTDOWN_GRACE_MS,
    llm: {
      mode: c.DAN_LLM,
      hasApiKey: (env['ANTHROPIC_API_KEY'] ?? '').length > 0,
      baseUrl: c.ANTHROPIC_BASE_URL,
      localUrl: c.DAN_LLM_URL,
      rulesFile: c.DAN_MOCK_LLM_RULES,
      localListen: c.DAN_LOCAL_LLM_LISTEN,
      localAdvertise: c.DAN_LOCAL_LLM_ADVERTISE,
      models: { sonnet: c.DAN_MODEL_SONNET, opus: c.DAN_MODEL_OPUS, haiku: c.DAN_MODEL_HAIKU },
      defaultModel: c.DAN_DEFAULT_MODEL,
      maxTurns: c.DAN_MAX_TURNS,
      maxTokens: c.DAN_MAX_TOKENS,
      maxRetries: c.DAN_LLM_MAX_RETRIES,
    },
    bashTimeoutMs: c.DAN_BASH_TIMEOUT_MS,
    workersPerTask: c.DAN_WORKERS_PER_TASK,
    agentRole: c.AGENT_ROLE,
    agentId: c.AGENT_ID,
    domainType: c.DOMAIN_TYPE,
  });
}

/** Maps a front-matter model name (alias or full id) to the model id sent to the API. */
export function resolveModel(config: Pick<Config, 'llm'>, name: string | undefined): string {
  const wanted = name && name !== 'inherit' ? name : config.llm.defaultModel;
  const alias = wanted as keyof Config['llm']['models'];
  return config.llm.models[alias] ?? wanted;
}
