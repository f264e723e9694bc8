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
    DAN_DOMAIN_CONCURRENCY: String(config.domainConcurrency),
    DAN_MAX_ATTEMPTS: String(config.maxAttempts),
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
  };
}
