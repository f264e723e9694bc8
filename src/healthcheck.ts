#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { redactUrl } from '../lib/errors.js';
import { connectRedis, type Redis } from '../lib/redis/connection.js';
import { hasHeartbeat } from '../lib/redis/heartbeat-registry.js';
import { Keys } from '../lib/redis/keys.js';

/**
 * The container health check (Dockerfile.agent HEALTHCHECK): exits 0 when this agent's heartbeat key
 * exists in Redis, 1 with a one-line reason otherwise. The agent id comes from AGENT_ID or, when that
 * is unset, from the file the agent writes at start (`$TMPDIR/dan-agent-id`, /tmp in the image).
 * Connects once with a short timeout and never retries: Docker runs this every few seconds.
 */
const CONNECT_TIMEOUT_MS = 2_000;
const OVERALL_TIMEOUT_MS = 4_000;

function envValue(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

function agentIdOf(): string {
  const fromEnv = envValue('AGENT_ID');
  if (fromEnv) return fromEnv;
  const file = path.join(os.tmpdir(), 'dan-agent-id');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`no agent id: AGENT_ID is unset and ${file} does not exist (has the agent started?)`);
  }
  const id = text.trim();
  if (!id) throw new Error(`no agent id: ${file} is empty`);
  return id;
}

async function check(): Promise<string> {
  const agentId = agentIdOf();
  const url = envValue('REDIS_URL') ?? 'redis://localhost:6379';
  const keys = new Keys(process.env['DAN_KEY_PREFIX'] ?? '');
  let redis: Redis;
  try {
    redis = await connectRedis(url, { name: 'dan-healthcheck', failFast: true, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  } catch {
    throw new Error(`redis at ${redactUrl(url)} does not answer`);
  }
  try {
    const key = keys.heartbeat(agentId);
    if (!(await hasHeartbeat(redis, keys, agentId))) throw new Error(`no heartbeat for ${agentId} (key ${key} is missing)`);
    return `agent ${agentId} is alive`;
  } finally {
    redis.disconnect();
  }
}

const timer = setTimeout(() => {
  process.stdout.write(`unhealthy: no answer within ${OVERALL_TIMEOUT_MS} ms\n`);
  process.exit(1);
}, OVERALL_TIMEOUT_MS);
timer.unref();

check().then(
  (message) => {
    process.stdout.write(`healthy: ${message}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stdout.write(`unhealthy: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
