import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import { loadConfig, packageRoot } from '../../lib/config.js';
import { AnthropicLlmClient } from '../../lib/llm/anthropic-llm-client.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import { createLogger, silentLogger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { InProcessSpawner } from '../../lib/spawner/in-process-spawner.js';
import { ProcessSpawner } from '../../lib/spawner/process-spawner.js';
import type { Spawner } from '../../lib/spawner/spawner.js';
import { networkEnv } from '../../src/main/network-env.js';
import type { SupervisorEvent } from '../../src/main/domain-supervisor.js';
import type { RunningMain } from '../../src/main/main-orchestrator.js';
import { startMainOrchestrator } from '../../src/main/main-orchestrator.js';
import { startAgentInProcess } from './in-process-agent.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from './redis.js';
import { createAgentRedisUser } from './agent-redis-user.js';

export interface TestNetwork {
  config: Config;
  keys: Keys;
  redis: Redis;
  model: LocalModelServer;
  main: RunningMain;
  spawner: Spawner;
  workspace: string;
  agentsDir: string;
  events: SupervisorEvent[];
  /** Resolves with the result hash once the task ends. */
  waitFor(taskId: string, timeoutMs?: number): Promise<Record<string, string>>;
  /**
   * Stops the network's processes (main, its agents and ELF, the model server) and keeps what they
   * left (Redis, the workspace, the ELF folder), for a test that reads it with processes of its own.
   */
  halt(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestNetworkOptions {
  /** Extra or replacement settings (environment variable names). */
  env?: Record<string, string>;
  /** Rules for the local model server; default: its built-in rules. */
  rules?: Rule[];
  /** Called with a copy of agents/ before loading, to add or change domains. */
  prepareAgents?: (dir: string) => void;
  /**
   * Where domain agents run: `in-process` (the default) in this test's process, which saves a Node
   * start-up per agent; `process` as child processes of `dist/src/agent.js`, for tests of spawning
   * and of what only a separate process has (its own pid to kill or signal, its exit code).
   */
  spawner?: 'process' | 'in-process';
  /** Any other spawner of domain agents (containers); wins over `spawner`. */
  createSpawner?: (config: Config) => Promise<Spawner>;
  /**
   * Domain agents (and ELF, farm) connect as a user with the `agent` rules of `dan up`'s private
   * Redis, which keep them from the keys main alone writes; main keeps the test Redis' own user.
   */
  restrictedAgents?: boolean;
  /**
   * A Redis of the test's own instead of the run's shared one (a Sentinel URL, say): main and the
   * test connect with `url`, domain agents get `agentUrl` (default: `url`), keys start with
   * `prefix` (default: a unique one; an ACL written for a prefix needs that one). Its keys are left
   * to whoever started it.
   */
  redis?: { url: string; agentUrl?: string; prefix?: string };
}

/**
 * A whole network for one test: the real main orchestrator in this process, domain orchestrators in
 * this process too or as real child processes (`dist/src/agent.js`, so `npm run build` must have
 * run), a private key prefix on the run's Redis, a local model server, a temporary workspace, and
 * short timings.
 */
export async function startTestNetwork(options: TestNetworkOptions = {}): Promise<TestNetwork> {
  const prefix = options.redis?.prefix ?? uniquePrefix('net');
  const shared = options.redis ? undefined : await connectTestRedis(prefix);
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-test-ws-'));
  const agentsDir = mkdtempSync(path.join(os.tmpdir(), 'dan-test-agents-'));
  const elfDir = mkdtempSync(path.join(os.tmpdir(), 'dan-test-elf-'));
  cpSync(path.join(packageRoot(), 'agents'), agentsDir, { recursive: true });
  options.prepareAgents?.(agentsDir);
  const model = new LocalModelServer(options.rules ? { rules: options.rules } : {});
  const modelUrl = await model.start({ port: 0 });
  const config = loadConfig({}, {
    REDIS_URL: options.redis?.url ?? testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_WORKSPACE: workspace, DAN_AGENTS_DIR: agentsDir,
    DAN_LLM: 'local', DAN_LLM_URL: modelUrl, DAN_LOG_LEVEL: 'warn', DAN_ELF_DIR: elfDir,
    DAN_LEASE_MS: '3000', DAN_HEARTBEAT_INTERVAL_MS: '300', DAN_HEARTBEAT_TTL_MS: '1500',
    DAN_SUPERVISE_INTERVAL_MS: '100', DAN_SPAWN_TIMEOUT_MS: '20000', DAN_DOMAIN_IDLE_MS: '60000',
    DAN_SHUTDOWN_GRACE_MS: '2000',
    // Tests of one thing run coders alone, so their rules need not script a tester and a reviewer;
    // tests of roles set DAN_ROLES themselves.
    DAN_ROLES: 'coder,docs',
    ...options.env,
  });
  // A Redis of the test's own is reached the way main reaches it, the replica wait included.
  const own = shared ? undefined : await connectRedis(config.redisUrl, { name: 'test', waitReplicas: config.redisWait });
  const { redis, cleanup } = shared ?? { redis: own!, cleanup: async () => own?.disconnect() };
  const keys = new Keys(prefix);
  const agentUser = options.restrictedAgents ? await createAgentRedisUser(redis, config.redisUrl, prefix) : undefined;
  const events: SupervisorEvent[] = [];
  const baseEnv = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' };
  const spawner = options.createSpawner
    ? await options.createSpawner(config)
    : options.spawner === 'process'
      ? new ProcessSpawner({ logger: silentLogger, baseEnv })
      : new InProcessSpawner({ start: startAgentInProcess, logger: silentLogger, baseEnv });
  const main = await startMainOrchestrator({
    config, logger: process.env['DEBUG_SWARM'] ? createLogger({ level: 'info' }) : silentLogger, spawner,
    agentEnv: { ...networkEnv(config, agentUser?.url ?? options.redis?.agentUrl ?? config.redisUrl), DAN_LLM: 'local', DAN_LLM_URL: modelUrl },
    llm: async () => new AnthropicLlmClient({ apiKey: 'test', baseURL: modelUrl }),
    onEvent: (event) => events.push(event),
  });
  const subscriber = redis.duplicate();
  // Its reconnects (a Redis of the test's own may fail over) are no failure of the test.
  subscriber.on('error', () => undefined);
  const watcher = new ResultWatcher(redis, subscriber, keys, 500);
  let halted: Promise<void> | undefined;
  const halt = () => halted ??= (async () => {
    watcher.close();
    subscriber.disconnect();
    await main.stop();
    await model.stop();
  })();
  return {
    config, keys, redis, model, main, spawner, workspace, agentsDir, events,
    async waitFor(taskId, timeoutMs = 45_000) {
      const signal = AbortSignal.timeout(timeoutMs);
      await watcher.wait(taskId, signal);
      return redis.hgetall(keys.result(taskId));
    },
    halt,
    async stop() {
      await halt();
      await agentUser?.remove();
      await cleanup();
      rmSync(workspace, { recursive: true, force: true });
      rmSync(agentsDir, { recursive: true, force: true });
      rmSync(elfDir, { recursive: true, force: true });
    },
  };
}

/** Environment for running the built CLI against a test network (its Redis, prefix and agents), without colour. */
export function cliEnv(network: TestNetwork, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1',
    REDIS_URL: network.config.redisUrl, DAN_KEY_PREFIX: network.config.keyPrefix, DAN_AGENTS_DIR: network.agentsDir,
    ...extra,
  };
}
