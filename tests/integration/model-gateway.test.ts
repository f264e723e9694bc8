import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import { silentLogger } from '../../lib/logger.js';
import { GatewayTokens } from '../../lib/redis/gateway-tokens.js';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { runNetwork, type RunningNetwork } from '../../src/main/run-network.js';
import { runProcess } from '../support/run-process.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';

// Audit H6 and M1: every agent had ANTHROPIC_API_KEY in its environment, readable by its workers' commands.
const REAL_KEY = 'sk-ant-api03-TESTSECRET-gateway-0123456789';

/** The model API as main sees it: records the key of every call, and lets the local model server answer. */
async function startRecordingUpstream(model: LocalModelServer): Promise<{ url: string; keys: string[]; close: () => Promise<void> }> {
  const keys: string[] = [];
  const server = http.createServer((req, res) => {
    keys.push(String(req.headers['x-api-key']));
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => {
      void fetch(`${model.url ?? ''}${req.url ?? ''}`, { method: req.method ?? 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(parts) })
        .then(async (answer) => {
          res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
          res.end(await answer.text());
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    keys,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** The audit's rule ATKS01: a worker's commands read the agent's environment; then it answers. */
const ATKS01: Rule[] = [
  {
    name: 'ATKS01',
    when: { system: '^\\s*Worker:', anyText: '^Task: ATKS01\\b', hasToolResult: false },
    reply: {
      tool_use: [
        { name: 'Bash', input: { command: 'env | sort' } },
        { name: 'Bash', input: { command: 'echo KEY=$ANTHROPIC_API_KEY URL=$REDIS_URL' } },
        { name: 'Bash', input: { command: "tr '\\0' '\\n' < /proc/$PPID/environ | grep -E 'ANTHROPIC|REDIS|TOKEN|SECRET'" } },
      ],
    },
  },
  { name: 'ATKS01-done', when: { system: '^\\s*Worker:', anyText: '^Task: ATKS01\\b', hasToolResult: true }, reply: { text: 'done' } },
];

/** One call of the Messages API at the gateway, bearing `token`. */
async function callGateway(url: string, token: string): Promise<{ status: number; message: string }> {
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': token, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 64, messages: [{ role: 'user', content: 'ping' }] }),
  });
  const body = (await res.json()) as { error?: { message: string } };
  return { status: res.status, message: body.error?.message ?? '' };
}

/** The environment of a running process, as a hostile command with the same uid reads it. */
function environOf(pid: string): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((e) => e.includes('='));
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

describe('the model gateway in a network whose main holds a real key', () => {
  const prefix = uniquePrefix('gw');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let model: LocalModelServer;
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let network: RunningNetwork;
  let workspace: string;
  let orphan: string;

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
    model = new LocalModelServer();
    await model.start();
    upstream = await startRecordingUpstream(model);
    workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-gw-ws-'));
    const env: Record<string, string> = {
      REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_WORKSPACE: workspace, DAN_SPAWNER: 'process',
      ANTHROPIC_API_KEY: REAL_KEY, ANTHROPIC_BASE_URL: upstream.url, DAN_ELF: 'off', DAN_LOG_LEVEL: 'warn',
      DAN_HEARTBEAT_INTERVAL_MS: '300', DAN_HEARTBEAT_TTL_MS: '1500', DAN_SUPERVISE_INTERVAL_MS: '100',
      // No command sandbox (a trusted setup, or a host without bubblewrap): a worker's Bash can read its agent's
      // environment, as in the audit, and the gateway is what keeps the key out of it.
      DAN_SANDBOX: 'off',
      DAN_SPAWN_TIMEOUT_MS: '20000', DAN_DOMAIN_IDLE_MS: '600000', DAN_SHUTDOWN_GRACE_MS: '2000',
    };
    const config = loadConfig({}, env);
    // A token a crashed main left behind, of an agent long gone: the next main's start revokes it.
    orphan = (await new GatewayTokens(redis, keys).issue('backend-0rphan00')).token;
    network = await runNetwork({ config, logger: silentLogger, redisUrl: config.redisUrl, env: { ...process.env, ...env } });
  }, 60_000);

  afterAll(async () => {
    await network?.stop();
    await upstream?.close();
    await model?.stop();
    await cleanup?.();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('completes a model task through the gateway; the agent holds only its token and the upstream saw only the real key', async () => {
    const subscriber = redis.duplicate();
    const watcher = new ResultWatcher(redis, subscriber, keys, 500);
    try {
      const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'Create a health endpoint' });
      await watcher.wait(taskId, AbortSignal.timeout(60_000));
      expect(await redis.hget(keys.result(taskId), 'status')).toBe('completed');
    } finally {
      watcher.close();
      subscriber.disconnect();
    }
    const [agent] = network.spawner.list();
    expect(agent?.domain).toBe('backend');
    // What `tr '\0' '\n' < /proc/$PPID/environ` shows a worker's command: the agent's own environment.
    const environ = readFileSync(`/proc/${agent!.handle}/environ`, 'utf8');
    expect(environ).not.toContain('TESTSECRET');
    const agentEnv = environOf(agent!.handle);
    expect(agentEnv['ANTHROPIC_API_KEY']).toMatch(/^dan-gw-[0-9a-f]{64}$/);
    expect(agentEnv['ANTHROPIC_BASE_URL']).toBe(network.gateway.url);
    expect(upstream.keys.length).toBeGreaterThan(0);
    expect(new Set(upstream.keys)).toEqual(new Set([REAL_KEY]));
    // Redis holds which tokens are live, never a token itself.
    const stored = JSON.stringify(await redis.hgetall(keys.gatewayTokens()));
    expect(stored).toContain(agent!.agentId);
    expect(stored).not.toContain(agentEnv['ANTHROPIC_API_KEY']);
  }, 90_000);

  it('a hostile model\'s worker reading its agent\'s environment (ATKS01) sends the model no key [audit #16]', async () => {
    model.setRules([...ATKS01, ...defaultRules()]);
    model.clearRequests();
    const subscriber = redis.duplicate();
    const watcher = new ResultWatcher(redis, subscriber, keys, 500);
    try {
      const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'ATKS01 api endpoint' });
      await watcher.wait(taskId, AbortSignal.timeout(60_000));
    } finally {
      watcher.close();
      subscriber.disconnect();
    }
    // Everything the hostile model was sent back: the agent's environment was read (its token), and no key is in it.
    const seen = JSON.stringify(model.requests.map((r) => r.body));
    expect(seen).toContain('KEY=');
    expect(seen).toContain('ANTHROPIC_API_KEY=dan-gw-');
    expect(seen).not.toContain('TESTSECRET');
  }, 90_000);

  it('serves the Claude Code CLI with a token, as a claude-code worker runs it', async () => {
    const { token } = await network.gateway.tokens.issue('cli-check');
    const home = mkdtempSync(path.join(os.tmpdir(), 'dan-gw-home-'));
    const cli = (key: string) => runProcess(path.resolve('node_modules/.bin/claude'), ['-p', 'say hi', '--output-format', 'json'], {
      env: { PATH: process.env['PATH'], HOME: home, ANTHROPIC_BASE_URL: network.gateway.url, ANTHROPIC_API_KEY: key }, timeoutMs: 90_000,
    });
    try {
      const calls = upstream.keys.length;
      const ok = await cli(token);
      expect(ok.code, ok.stderr).toBe(0);
      expect(upstream.keys.length).toBeGreaterThan(calls);
      expect(new Set(upstream.keys)).toEqual(new Set([REAL_KEY]));
    } finally {
      await network.gateway.tokens.revokeAgent('cli-check');
      rmSync(home, { recursive: true, force: true });
    }
  }, 120_000);

  it('dan gateway lists live tokens without showing them, and --revoke ends one at once', async () => {
    const { token } = await network.gateway.tokens.issue('leaked-0000beef');
    const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix };
    const dan = (args: string[]) => runProcess(process.execPath, [path.resolve('dist/bundle/cli.mjs'), ...args], { env, timeoutMs: 30_000 });
    const listed = await dan(['gateway', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as Array<{ id: string; agent_id: string; issued_at: string }>;
    expect(rows.map((r) => r.agent_id)).toEqual(expect.arrayContaining(['leaked-0000beef', network.spawner.list()[0]!.agentId]));
    expect(listed.stdout).not.toContain(token);
    expect((await callGateway(network.gateway.url, token)).status).toBe(200);
    const revoked = await dan(['gateway', '--revoke', 'leaked-0000beef']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe('revoked 1 token(s) of leaked-0000beef\n');
    expect((await callGateway(network.gateway.url, token)).status).toBe(401);
  }, 60_000);

  it('answers a made-up token 401 naming the fix, and the agent\'s own token 401 once the agent is stopped', async () => {
    const [agent] = network.spawner.list();
    const token = environOf(agent!.handle)['ANTHROPIC_API_KEY']!;
    const madeUp = await callGateway(network.gateway.url, `dan-gw-${'0'.repeat(64)}`);
    expect(madeUp.status).toBe(401);
    expect(madeUp.message).toMatch(/unknown or revoked.*start the agent again/);
    expect((await callGateway(network.gateway.url, orphan)).status).toBe(401);
    expect((await callGateway(network.gateway.url, token)).status).toBe(200);
    const calls = upstream.keys.length;
    await network.spawner.stop(agent!.agentId, 2_000);
    const revoked = await callGateway(network.gateway.url, token);
    expect(revoked.status).toBe(401);
    expect(upstream.keys).toHaveLength(calls);
    expect(await network.gateway.tokens.list()).toEqual([]);
  }, 60_000);
});
