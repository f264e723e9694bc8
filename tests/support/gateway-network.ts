import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../lib/config.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { runNetwork, type RunningNetwork } from '../../src/main/run-network.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from './redis.js';

export interface GatewayNetwork {
  redis: Redis;
  keys: Keys;
  model: LocalModelServer;
  network: RunningNetwork;
  /** A new temporary folder, removed by `stop`. */
  temp(name: string): string;
  /** Waits for the task to end, then returns its status, error and parsed output. */
  result(taskId: string, timeoutMs: number): Promise<{ status: string; error: string; output: Record<string, unknown> }>;
  stop(): Promise<void>;
}

/**
 * A whole network as `dan up` runs it (main, its model gateway, domain agents as processes) against
 * a local model server with `rules`, on a private key prefix: for tests of what only the gateway
 * does (prices, budgets). `env` adds or replaces settings; each setting named in `folders` gets a new
 * temporary folder (the workspace always does).
 */
export async function startGatewayNetwork(name: string, rules: Rule[], env: Record<string, string> = {}, folders: string[] = []): Promise<GatewayNetwork> {
  const prefix = uniquePrefix(name);
  const keys = new Keys(prefix);
  const { redis, cleanup } = await connectTestRedis(prefix);
  const model = new LocalModelServer({ rules });
  const modelUrl = await model.start();
  const dirs: string[] = [];
  const temp = (folder: string): string => {
    const dir = mkdtempSync(path.join(os.tmpdir(), folder));
    dirs.push(dir);
    return dir;
  };
  const settings: Record<string, string> = {
    REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_WORKSPACE: temp(`dan-${name}-ws-`), DAN_SPAWNER: 'process',
    ANTHROPIC_API_KEY: `sk-ant-api03-${name}-test-key`, ANTHROPIC_BASE_URL: modelUrl, DAN_LOG_LEVEL: 'warn',
    DAN_HEARTBEAT_INTERVAL_MS: '300', DAN_HEARTBEAT_TTL_MS: '1500', DAN_SUPERVISE_INTERVAL_MS: '100',
    DAN_SPAWN_TIMEOUT_MS: '20000', DAN_DOMAIN_IDLE_MS: '600000', DAN_SHUTDOWN_GRACE_MS: '2000',
    ...env,
  };
  for (const setting of folders) settings[setting] = temp(`dan-${name}-${setting.toLowerCase()}-`);
  const config = loadConfig({}, settings);
  const network = await runNetwork({ config, logger: silentLogger, redisUrl: config.redisUrl, env: { ...process.env, ...settings } });
  const subscriber = redis.duplicate();
  const watcher = new ResultWatcher(redis, subscriber, keys, 500);
  return {
    redis, keys, model, network, temp,
    async result(taskId, timeoutMs) {
      await watcher.wait(taskId, AbortSignal.timeout(timeoutMs));
      const result = await redis.hgetall(keys.result(taskId));
      return { status: result['status'] ?? '', error: result['error'] ?? '', output: JSON.parse(result['output'] ?? '{}') as Record<string, unknown> };
    },
    async stop() {
      watcher.close();
      subscriber.disconnect();
      await network.stop();
      await model.stop();
      await cleanup();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}
