import Docker from 'dockerode';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { LABELS } from '../../lib/spawner/docker-spawner.js';
import { runNetwork, type RunningNetwork } from '../../src/main/run-network.js';
import { describeDocker, testAgentImage } from '../support/docker.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';

// Audit M1 (rows 17, 18): a domain container's /proc/1/environ, readable by its own uid, held the API key.
const REAL_KEY = 'sk-ant-api03-TESTSECRET-docker-0123456789';
const docker = new Docker();

/** Runs `command` in the container as its own user (uid 1000), as a worker's Bash would; its output. */
async function execIn(containerId: string, command: string): Promise<string> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: ['sh', '-c', command], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (chunk: Buffer) => parts.push(chunk));
  // stdout and stderr come multiplexed in frames; both are kept, without the frame headers.
  docker.modem.demuxStream(stream, out, out);
  await new Promise((resolve) => stream.on('end', resolve));
  return Buffer.concat(parts).toString('utf8');
}

describeDocker('a domain container behind the model gateway', () => {
  const prefix = uniquePrefix('gwd');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;
  let model: LocalModelServer;
  let network: RunningNetwork;
  let workspace: string;
  let containerId: string;

  beforeAll(async () => {
    await docker.getImage(testAgentImage()).inspect().catch(() => {
      throw new Error(`the agent image ${testAgentImage()} is missing: run scripts/build-local-images.sh`);
    });
    ({ redis, cleanup } = await connectTestRedis(prefix));
    model = new LocalModelServer();
    await model.start();
    workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-gwd-ws-'));
    chmodSync(workspace, 0o777);
    const env: Record<string, string> = {
      REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_WORKSPACE: workspace, DAN_SPAWNER: 'docker',
      DAN_AGENT_IMAGE: testAgentImage(), DAN_DOCKER_NETWORK: 'host', DAN_NETWORK_ID: `gwd-${prefix}`,
      // The real key, and the model API it opens (the local model server takes any key).
      ANTHROPIC_API_KEY: REAL_KEY, ANTHROPIC_BASE_URL: model.url!, DAN_ELF: 'off', DAN_LOG_LEVEL: 'warn',
      DAN_HEARTBEAT_INTERVAL_MS: '500', DAN_HEARTBEAT_TTL_MS: '3000', DAN_SUPERVISE_INTERVAL_MS: '200',
      DAN_SPAWN_TIMEOUT_MS: '60000', DAN_DOMAIN_IDLE_MS: '600000', DAN_SHUTDOWN_GRACE_MS: '3000',
    };
    const config = loadConfig({}, env);
    network = await runNetwork({ config, logger: silentLogger, redisUrl: config.redisUrl, env: { ...process.env, ...env } });
    const subscriber = redis.duplicate();
    const watcher = new ResultWatcher(redis, subscriber, keys, 500);
    try {
      const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'Create a health endpoint' });
      await watcher.wait(taskId, AbortSignal.timeout(120_000));
      expect(await redis.hget(keys.result(taskId), 'status')).toBe('completed');
      const agentId = (await redis.hget(keys.result(taskId), 'agent_id'))!;
      const [found] = await docker.listContainers({ filters: { label: [`${LABELS.domainId}=${agentId.slice(-8)}`] } });
      containerId = found!.Id;
    } finally {
      watcher.close();
      subscriber.disconnect();
    }
  }, 180_000);

  afterAll(async () => {
    await network?.stop();
    await model?.stop();
    await cleanup?.();
    rmSync(workspace, { recursive: true, force: true });
  }, 60_000);

  it('[audit #17] runs as uid 1000 with no capabilities, no new privileges, seccomp, a read-only root and no Docker socket', async () => {
    const info = await docker.getContainer(containerId).inspect();
    expect(info.Config.User).toBe('1000:1000');
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.PidsLimit).toBe(256);
    expect(info.HostConfig.Memory).toBe(1024 ** 3);
    expect(Object.keys(info.HostConfig.Tmpfs ?? {})).toEqual(['/tmp']);
    expect(info.Mounts.some((m) => m.Source.includes('docker.sock'))).toBe(false);
    const status = await execIn(containerId, 'id -u; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; ls /var/run/docker.sock 2>&1');
    expect(status).toMatch(/^1000$/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    expect(status).toMatch(/No such file/);
  });

  it('[audit #18] /proc/1/environ and docker inspect show a gateway token, never the API key, and the model works with it', async () => {
    const environ = await execIn(containerId, "tr '\\0' '\\n' < /proc/1/environ; for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null; done");
    expect(environ).toMatch(/^ANTHROPIC_API_KEY=dan-gw-[0-9a-f]{64}$/m);
    expect(environ).toContain(`ANTHROPIC_BASE_URL=${network.gateway.url}`);
    expect(environ).not.toContain('TESTSECRET');
    const info = await docker.getContainer(containerId).inspect();
    expect(JSON.stringify(info.Config.Env)).not.toContain('TESTSECRET');
  });

  // not held yet: DAN_DOCKER_NETWORK defaults to `host`, so a container reaches the host's loopback Redis
  // (with its agent's own REDIS_URL password) and every loopback listener; holding it needs a bridge
  // network by default with Redis and the gateway reachable on it (DAN_GATEWAY_ADVERTISE), which compose does.
  it.skip('[audit #18] a domain container on the default network cannot reach the host\'s loopback listeners', async () => {
    const port = new URL(testRedisUrl()).port;
    const probe = await execIn(containerId, `node -e "const s = require('net').connect(${port}, '127.0.0.1'); s.on('connect', () => { console.log('REACHED'); s.destroy(); }); s.on('error', () => console.log('REFUSED'))"`);
    expect(probe).toContain('REFUSED');
  });
});
