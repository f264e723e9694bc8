import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMemorySize } from './agents/agent-definitions.js';
import { SETTING_NAMES, parseSettings, type SettingName, type Settings } from './config/settings.js';
import { InvalidInputError } from './errors.js';
import { DEFAULT_CLIENT_ID, normalizeClientId } from './protocol/client-id.js';
import { isSentinelUrl, parseSentinelUrl } from './redis/redis-url.js';

export { SETTINGS, SETTING_NAMES, WITHHELD_BECAUSE, settingsUsed, type AgentUse, type SettingName, type Settings } from './config/settings.js';

/** The folder this package is installed in (holds `agents/`). Works from `lib/` and `dist/lib/`. */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..') : path.resolve(here, '..');
}

/**
 * The resolved configuration, shaped for the code that reads it (`config.llm.maxTurns`). Its type is
 * `Config`, so a field exists only if it is built here from a parsed setting; `settings` keeps the
 * parsed values by name, for the environment of spawned agents (`agentEnv`).
 */
function buildConfig(c: Settings, env: NodeJS.ProcessEnv) {
  // Empty is unset (compose passes `${DAN_CLIENTS:-}`); to serve `default` alone, list just it.
  const clients = c.DAN_CLIENTS === undefined || c.DAN_CLIENTS.trim() === ''
    ? undefined
    : c.DAN_CLIENTS.split(',').map((id) => id.trim()).filter((id) => id !== '').map((id) => normalizeClientId(id));
  return {
    redisUrl: c.REDIS_URL,
    /** Replicas that must confirm a submit's or a finish's write (Redis WAIT), and how long to wait for them. */
    redisWait: { replicas: c.DAN_REDIS_WAIT_REPLICAS, timeoutMs: c.DAN_REDIS_WAIT_TIMEOUT_MS },
    /** How long a task may await approval when it does not say (metadata.approval_timeout_seconds). */
    approvalWindowMs: c.DAN_APPROVAL_WINDOW_MS,
    /** Webhook deliveries (main's delivery loop): one attempt's time limit, and attempts before one is given up. */
    webhooks: { timeoutMs: c.DAN_WEBHOOK_TIMEOUT_MS, maxAttempts: c.DAN_WEBHOOK_MAX_ATTEMPTS },
    keyPrefix: c.DAN_KEY_PREFIX,
    agentsDir: c.DAN_AGENTS_DIR ?? path.join(packageRoot(), 'agents'),
    workspace: c.DAN_WORKSPACE,
    /** The clients served besides `default` (DAN_CLIENTS, lower case); undefined: any client. */
    clients,
    /** More folders (absolute) a task's `context.workspace` may name; see lib/workspace/task-workspace.ts. */
    workspaceRoots: (c.DAN_WORKSPACE_ROOTS ?? '').split(path.delimiter).filter((p) => p.trim() !== '').map((p) => path.resolve(p)),
    logLevel: c.DAN_LOG_LEVEL,
    router: c.DAN_ROUTER,
    workerSelector: c.DAN_WORKER_SELECTOR,
    /** How workers run: our tool loop on the Anthropic SDK, or the Claude Code CLI. */
    workerRuntime: c.DAN_WORKER_RUNTIME,
    spawner: c.DAN_SPAWNER,
    docker: {
      /** Label value that tells this network's containers from another's on the same engine. */
      networkId: c.DAN_NETWORK_ID,
      image: c.DAN_AGENT_IMAGE,
      /** `isolated` (no network but sockets to Redis and the gateway), `host`, or a Docker network's name. */
      network: c.DAN_DOCKER_NETWORK,
      /** Mounted at /workspace in domain containers: an absolute host path, or a named volume. */
      workspace: c.DAN_DOCKER_WORKSPACE ?? c.DAN_WORKSPACE,
      /** Mounted at /data/elf in the elf domain's container: an absolute host path, or a named volume. */
      elfStore: c.DAN_DOCKER_ELF_STORE ?? c.DAN_ELF_DIR,
      /** Mounted read-only as the agents folder of domain containers, so a new domain needs no image rebuild; the image's own when unset. */
      agentsDir: c.DAN_DOCKER_AGENTS_DIR,
      user: c.DAN_DOCKER_USER,
      memoryBytes: parseMemorySize(c.DAN_DOCKER_MEMORY) ?? 1024 ** 3,
      cpus: c.DAN_DOCKER_CPUS,
      pids: c.DAN_DOCKER_PIDS,
      tmpfsBytes: parseMemorySize(c.DAN_DOCKER_TMPFS_SIZE) ?? 256 * 1024 ** 2,
      /** The Swarm spawner's services attach to it: `host`, or an overlay network shared with Redis. */
      swarmNetwork: c.DAN_SWARM_NETWORK,
    },
    elf: {
      /** Workers ask the ELF memory for context, and main keeps the elf domain running. */
      enabled: c.DAN_ELF === 'on',
      /** Folder of the per-client databases. */
      dir: c.DAN_ELF_DIR,
      /** After a task fails, ask the model why and record the lessons it proposes. */
      postmortem: c.DAN_ELF_POSTMORTEM === 'on',
      /** When set, the only clients served; a request for any other is refused. */
      // DAN_CLIENTS (and `default`) unless DAN_ELF_CLIENTS names others.
      clients: c.DAN_ELF_CLIENTS ? c.DAN_ELF_CLIENTS.split(',').map((id) => id.trim()).filter((id) => id !== '') : clients && [DEFAULT_CLIENT_ID, ...clients],
      /** How long a worker waits for its context before it goes on without memory. */
      timeoutMs: c.DAN_ELF_TIMEOUT_MS,
      budgetTokens: c.DAN_ELF_BUDGET_TOKENS,
      trailHalfLifeHours: c.DAN_ELF_TRAIL_HALF_LIFE_HOURS,
    },
    /** The Claude Code CLI, when DAN_CLAUDE_PATH names one (else the package's own, else `claude` on the PATH). */
    claudePath: c.DAN_CLAUDE_PATH,
    farm: {
      /** Agents of a farm that does not say how many. */
      agents: c.DAN_FARM_AGENTS,
      /** The most agents one farm may ask for. */
      maxAgents: c.DAN_FARM_MAX_AGENTS,
      runtime: c.DAN_FARM_RUNTIME,
      /** Folder of the agents' git worktrees. */
      dir: c.DAN_FARM_DIR,
      stuckMs: c.DAN_FARM_STUCK_MS,
      restartBaseMs: c.DAN_FARM_RESTART_BASE_MS,
      restartMaxMs: c.DAN_FARM_RESTART_MAX_MS,
      maxRestarts: c.DAN_FARM_MAX_RESTARTS,
      contextTokens: c.DAN_FARM_CONTEXT_TOKENS,
      lockMs: c.DAN_FARM_LOCK_MS,
      problemsTimeoutMs: c.DAN_FARM_PROBLEMS_TIMEOUT_MS,
      /** Folders a farm's path may be under besides the workspace (absolute). */
      roots: (c.DAN_FARM_ROOTS ?? '').split(path.delimiter).filter((dir) => dir.trim() !== '').map((dir) => path.resolve(dir.trim())),
    },
    /** A task's own branch in a git workspace: how its work is delivered when it completes (lib/workspace/task-branch.ts). */
    taskBranch: { delivery: c.DAN_TASK_DELIVERY, remote: c.DAN_TASK_REMOTE, dir: c.DAN_TASK_DIR },
    leaseMs: c.DAN_LEASE_MS,
    maxAttempts: c.DAN_MAX_ATTEMPTS,
    /** Backoff of retries: the first waits between half and all of `retryBaseMs`, doubling up to `retryMaxMs`. */
    retryBaseMs: c.DAN_RETRY_BASE_MS,
    retryMaxMs: Math.max(c.DAN_RETRY_MAX_MS, c.DAN_RETRY_BASE_MS),
    /** Most tasks that may wait in one domain's queue (0: no limit). */
    maxQueueDepth: c.DAN_MAX_QUEUE_DEPTH,
    /** Sizes a task may have (0: no limit): checked by `dan send`, the claim script and the task parser. */
    taskLimits: { maxTaskBytes: c.DAN_MAX_TASK_BYTES, maxDescriptionBytes: c.DAN_MAX_DESCRIPTION_BYTES, maxContextBytes: c.DAN_MAX_CONTEXT_BYTES },
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
      /** Only whether a key is set: the key itself is read where the client is built. */
      hasApiKey: (env['ANTHROPIC_API_KEY'] ?? '').length > 0,
      baseUrl: c.ANTHROPIC_BASE_URL,
      localUrl: c.DAN_LLM_URL,
      rulesFile: c.DAN_MOCK_LLM_RULES,
      /** `host:port` the in-process local model server listens on; default 127.0.0.1 on a free port. */
      localListen: c.DAN_LOCAL_LLM_LISTEN,
      /** The URL spawned agents use to reach that server, when it is not the address it listens on. */
      localAdvertise: c.DAN_LOCAL_LLM_ADVERTISE,
      /** Request bodies the local model server reads at most; larger ones get 413. */
      localMaxBodyBytes: c.DAN_LOCAL_LLM_MAX_BODY_BYTES,
      /** The model gateway: where it listens (default 127.0.0.1 on a free port), the URL agents are given, its body cap. */
      gateway: { listen: c.DAN_GATEWAY_LISTEN, advertise: c.DAN_GATEWAY_ADVERTISE, maxBodyBytes: c.DAN_GATEWAY_MAX_BODY_BYTES },
      models: { sonnet: c.DAN_MODEL_SONNET, opus: c.DAN_MODEL_OPUS, haiku: c.DAN_MODEL_HAIKU },
      defaultModel: c.DAN_DEFAULT_MODEL,
      maxTurns: c.DAN_MAX_TURNS,
      maxTokens: c.DAN_MAX_TOKENS,
      /** Quick retries of one model call inside the SDK; past them the task itself is retried with backoff. */
      maxRetries: c.DAN_LLM_MAX_RETRIES,
      /** The rate limit every agent shares (the gateway and main's router), per model: see lib/redis/model-rate-limit.ts. */
      rateLimit: {
        defaults: { rpm: c.DAN_MODEL_RPM, inputTpm: c.DAN_MODEL_INPUT_TPM, outputTpm: c.DAN_MODEL_OUTPUT_TPM },
        perModel: c.DAN_MODEL_LIMITS,
        windowMs: c.DAN_MODEL_RATE_WINDOW_MS,
        maxWaitMs: c.DAN_MODEL_RATE_MAX_WAIT_MS,
      },
      /** Model replies over this many bytes fail the call (0: no limit). */
      maxReplyBytes: c.DAN_MAX_MODEL_REPLY_BYTES,
    },
    /** Prices and budgets of model calls (the gateway's): the price table's setting, and each client's dollars per UTC day. */
    cost: { prices: c.DAN_MODEL_PRICES, clientDailyBudgetUsd: c.DAN_CLIENT_DAILY_BUDGET_USD },
    /** The HTTP API (`dan serve`): request bodies over `maxBodyBytes` are answered 413 and not read further. */
    api: { maxBodyBytes: c.DAN_API_MAX_BODY_BYTES, ratePerMinute: c.DAN_API_RATE_PER_MINUTE, maxInFlight: c.DAN_API_MAX_IN_FLIGHT },
    /** The main orchestrator's /metrics listener (src/metrics/metrics-server.ts): port 0 is off. */
    metrics: { port: c.DAN_METRICS_PORT, host: c.DAN_METRICS_HOST },
    bashTimeoutMs: c.DAN_BASH_TIMEOUT_MS,
    /** How Bash, problems commands and checks are confined (lib/sandbox). */
    sandbox: c.DAN_SANDBOX,
    /** A task's checks (lib/checks): each one's time and kept output, and the worker rounds they allow. */
    checks: { timeoutMs: c.DAN_CHECK_TIMEOUT_MS, maxOutputBytes: c.DAN_CHECK_MAX_OUTPUT_BYTES, rounds: c.DAN_VERIFY_ROUNDS },
    workersPerTask: c.DAN_WORKERS_PER_TASK,
    /** The worker roles that take part in tasks (DAN_ROLES). */
    roles: c.DAN_ROLES,
    agentRole: c.AGENT_ROLE,
    agentId: c.AGENT_ID,
    /** Where an agent without AGENT_ID takes its id's 8 hex from (lib/runtime/agent-id.ts). */
    agentIdFrom: c.DAN_AGENT_ID_FROM,
    /** The Kubernetes pod's UID, when the pod passes it (DAN_POD_UID). */
    podUid: c.DAN_POD_UID,
    domainType: c.DOMAIN_TYPE,
    /** Loopback listeners to open at start, each carried to a unix socket (an isolated container's way out). */
    forwards: c.DAN_FORWARD,
    /** The parsed settings by name: what `agentEnv` hands on to spawned agents. */
    settings: Object.freeze({ ...c }),
  };
}

/** The network's configuration: what `buildConfig` makes of the settings, so the two cannot drift. */
export type Config = ReturnType<typeof buildConfig>;

/**
 * Parses the environment once, listing every problem at once, and returns a frozen config.
 * `overrides` (from CLI flags) win over the environment.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<SettingName, string>> = {}): Readonly<Config> {
  const source: Record<string, string | undefined> = {};
  for (const key of SETTING_NAMES) {
    const value = overrides[key] ?? env[key];
    source[key] = value === '' && key !== 'DAN_KEY_PREFIX' ? undefined : value;
  }
  const parsed = parseSettings(source);
  if ('problems' in parsed) {
    throw new InvalidInputError(`invalid configuration:\n${parsed.problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
  }
  const c = parsed.settings;
  if (c.DAN_HEARTBEAT_TTL_MS <= c.DAN_HEARTBEAT_INTERVAL_MS) {
    throw new InvalidInputError(
      `invalid configuration: DAN_HEARTBEAT_TTL_MS (${c.DAN_HEARTBEAT_TTL_MS}) must be larger than DAN_HEARTBEAT_INTERVAL_MS (${c.DAN_HEARTBEAT_INTERVAL_MS})`,
    );
  }
  // A Sentinel URL is read here once, so a malformed one stops every process before it connects.
  if (isSentinelUrl(c.REDIS_URL)) parseSentinelUrl(c.REDIS_URL);
  if (/^rediss\+sentinel:/i.test(c.REDIS_URL.trim())) {
    throw new InvalidInputError("invalid configuration: REDIS_URL: TLS through Sentinel (rediss+sentinel://) is not supported yet; use 'redis+sentinel://' on a network you trust, or the master's own rediss:// URL");
  }
  return Object.freeze(buildConfig(c, env));
}

/** Maps a front-matter model name (alias or full id) to the model id sent to the API. */
export function resolveModel(config: Pick<Config, 'llm'>, name: string | undefined): string {
  const wanted = name && name !== 'inherit' ? name : config.llm.defaultModel;
  const alias = wanted as keyof Config['llm']['models'];
  return config.llm.models[alias] ?? wanted;
}
