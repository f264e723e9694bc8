import type { Config } from '../../lib/config.js';

/**
 * Settings a spawned agent must share with the process that spawns it, so a domain started by
 * `dan up` serves the same Redis, prefix, agents folder and workspace.
 */
export function networkEnv(config: Config, redisUrl: string): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    DAN_KEY_PREFIX: config.keyPrefix,
    DAN_AGENTS_DIR: config.agentsDir,
    DAN_WORKSPACE: config.workspace,
    DAN_LOG_LEVEL: config.logLevel,
    DAN_LOG_FORMAT: 'json',
    DAN_LEASE_MS: String(config.leaseMs),
    DAN_HEARTBEAT_INTERVAL_MS: String(config.heartbeatIntervalMs),
    DAN_HEARTBEAT_TTL_MS: String(config.heartbeatTtlMs),
    DAN_DOMAIN_IDLE_MS: String(config.domainIdleMs),
    DAN_SHUTDOWN_GRACE_MS: String(config.shutdownGraceMs),
    DAN_DOMAIN_CONCURRENCY: String(config.domainConcurrency),
    DAN_MAX_ATTEMPTS: String(config.maxAttempts),
    DAN_RETRY_BASE_MS: String(config.retryBaseMs),
    DAN_RETRY_MAX_MS: String(config.retryMaxMs),
    DAN_MAX_QUEUE_DEPTH: String(config.maxQueueDepth),
    DAN_LLM_MAX_RETRIES: String(config.llm.maxRetries),
    DAN_RETENTION_MS: String(config.retentionMs),
    DAN_WORKER_SELECTOR: config.workerSelector,
    DAN_WORKER_RUNTIME: config.workerRuntime,
    DAN_ELF: config.elf.enabled ? 'on' : 'off',
    DAN_ELF_DIR: config.elf.dir,
    DAN_ELF_POSTMORTEM: config.elf.postmortem ? 'on' : 'off',
    ...(config.elf.clients ? { DAN_ELF_CLIENTS: config.elf.clients.join(',') } : {}),
    DAN_ELF_TIMEOUT_MS: String(config.elf.timeoutMs),
    DAN_ELF_BUDGET_TOKENS: String(config.elf.budgetTokens),
    DAN_ELF_TRAIL_HALF_LIFE_HOURS: String(config.elf.trailHalfLifeHours),
    ...(config.claudePath ? { DAN_CLAUDE_PATH: config.claudePath } : {}),
    DAN_FARM_AGENTS: String(config.farm.agents),
    DAN_FARM_MAX_AGENTS: String(config.farm.maxAgents),
    DAN_FARM_RUNTIME: config.farm.runtime,
    DAN_FARM_DIR: config.farm.dir,
    DAN_FARM_STUCK_MS: String(config.farm.stuckMs),
    DAN_FARM_RESTART_BASE_MS: String(config.farm.restartBaseMs),
    DAN_FARM_RESTART_MAX_MS: String(config.farm.restartMaxMs),
    DAN_FARM_MAX_RESTARTS: String(config.farm.maxRestarts),
    DAN_FARM_CONTEXT_TOKENS: String(config.farm.contextTokens),
    DAN_FARM_LOCK_MS: String(config.farm.lockMs),
    DAN_FARM_PROBLEMS_TIMEOUT_MS: String(config.farm.problemsTimeoutMs),
  };
}
