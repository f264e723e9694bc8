import Docker from 'dockerode';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { LABELS } from '../../lib/spawner/docker-spawner.js';
import { freePort, startLockedRedisServer } from '../../src/cli/local-redis.js';
import { runNetwork, type RunningNetwork } from '../../src/main/run-network.js';
import { describeDocker, execAsCommand, testAgentImage } from '../support/docker.js';
import { uniquePrefix } from '../support/redis.js';

// Audit M1 (rows 17, 18): a domain container's /proc/1/environ, readable by its own uid, held the API key,
// and the agent's REDIS_URL, whose password then opened the host's Redis (`nc 127.0.0.1 PORT`, DBSIZE).
const REAL_KEY = 'sk-ant-api03-TESTSECRET-docker-0123456789';
const docker = new Docker();

/** Runs `command` in the container as uid 1000 with the minimal environment, as a worker's Bash runs there. */
const execIn = execAsCommand;

// The agent's process (not tini, PID 1, whose command line names it too); `agen[t]` keeps this
// script's own command line from matching.
const AGENT_PID = 'for p in /proc/[0-9]*; do [ "$p" != /proc/1 ] && grep -q "dist/bundle/agen[t]\\.mjs" $p/cmdline 2>/dev/null && echo ${p#/proc/}; done | head -n 1';

describeDocker('a domain container behind the model gateway', () => {
  const prefix = uniquePrefix('gwd');
  const keys = new Keys(prefix);
  // Redis as `dan up` runs it: no open default user, a main and an agent user with passwords of their own.
  let lockedRedis: Awaited<ReturnType<typeof startLockedRedisServer>>;
  let redisPort: string;
  let redis: Redis;
  let model: LocalModelServer;
  let network: RunningNetwork;
  let workspace: string;
  let redisDir: string;
  let containerId: string;
  let gatewayToken: string;

  beforeAll(async () => {
    await docker.getImage(testAgentImage()).inspect().catch(() => {
      throw new Error(`the agent image ${testAgentImage()} is missing: run scripts/build-local-images.sh`);
    });
    redisDir = mkdtempSync(path.join(os.tmpdir(), 'dan-gwd-redis-'));
    lockedRedis = await startLockedRedisServer(await freePort(), silentLogger, { dir: redisDir, persist: false, keyPrefix: prefix });
    redisPort = new URL(lockedRedis.url).port;
    redis = new Redis(lockedRedis.url, { maxRetriesPerRequest: 1 });
    model = new LocalModelServer();
    await model.start();
    workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-gwd-ws-'));
    chmodSync(workspace, 0o777);
    const env: Record<string, string> = {
      REDIS_URL: lockedRedis.url, DAN_KEY_PREFIX: prefix, DAN_WORKSPACE: workspace, DAN_SPAWNER: 'docker',
      // DAN_DOCKER_NETWORK is left at its default (isolated), which row 18's network half is about.
      DAN_AGENT_IMAGE: testAgentImage(), DAN_NETWORK_ID: `gwd-${prefix}`,
      // The real key, and the model API it opens (the local model server takes any key).
      ANTHROPIC_API_KEY: REAL_KEY, ANTHROPIC_BASE_URL: model.url!, DAN_ELF: 'off', DAN_LOG_LEVEL: 'warn',
      DAN_HEARTBEAT_INTERVAL_MS: '500', DAN_HEARTBEAT_TTL_MS: '3000', DAN_SUPERVISE_INTERVAL_MS: '200',
      DAN_SPAWN_TIMEOUT_MS: '60000', DAN_DOMAIN_IDLE_MS: '600000', DAN_SHUTDOWN_GRACE_MS: '3000',
    };
    const config = loadConfig({}, env);
    network = await runNetwork({ config, logger: silentLogger, redisUrl: lockedRedis.url, agentRedisUrl: lockedRedis.agentUrl, env: { ...process.env, ...env } });
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
    const info = await docker.getContainer(containerId).inspect();
    gatewayToken = (info.Config.Env.find((line) => line.startsWith('ANTHROPIC_API_KEY=')) ?? '').slice('ANTHROPIC_API_KEY='.length);
  }, 180_000);

  afterAll(async () => {
    await network?.stop();
    await model?.stop();
    redis?.disconnect();
    await lockedRedis?.stop();
    rmSync(workspace, { recursive: true, force: true });
    rmSync(redisDir, { recursive: true, force: true });
  }, 60_000);

  it('[audit #17] the agent runs as uid 1000 with no capabilities, no new privileges, seccomp, a read-only root and no Docker socket', async () => {
    const info = await docker.getContainer(containerId).inspect();
    // Started as root with SETUID and SETGID alone, so that the agent can switch to DAN_RUN_AS at once.
    expect(info.Config.User).toBe('0:0');
    expect(info.Config.Env).toContain('DAN_RUN_AS=1000:1000');
    expect(((info.HostConfig.CapAdd ?? []) as string[]).map((cap) => cap.replace(/^CAP_/, '')).sort()).toEqual(['SETGID', 'SETUID']);
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.PidsLimit).toBe(256);
    expect(info.HostConfig.Memory).toBe(1024 ** 3);
    expect(Object.keys(info.HostConfig.Tmpfs ?? {})).toEqual(['/tmp']);
    expect(info.Mounts.some((m) => m.Source.includes('docker.sock'))).toBe(false);
    const agent = await execIn(containerId, `pid=$(${AGENT_PID}); echo "agent $pid"; grep -E "^(Uid|Gid|CapEff|CapPrm|NoNewPrivs):" /proc/$pid/status`);
    expect(agent).toMatch(/^agent \d+$/m);
    expect(agent).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(agent).toMatch(/^Gid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(agent).toMatch(/^CapEff:\s+0+$/m);
    expect(agent).toMatch(/^CapPrm:\s+0+$/m);
    expect(agent).toMatch(/^NoNewPrivs:\s+1$/m);
    const command = await execIn(containerId, 'id -u; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; ls /var/run/docker.sock 2>&1');
    expect(command).toMatch(/^1000$/m);
    expect(command).toMatch(/^CapEff:\s+0+$/m);
    expect(command).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(command).toMatch(/^Seccomp:\s+2$/m);
    expect(command).toMatch(/No such file/);
  });

  it('[audit #18] the container holds a gateway token, never the API key, and the model works with it', async () => {
    expect(gatewayToken).toMatch(/^dan-gw-[0-9a-f]{64}$/);
    const info = await docker.getContainer(containerId).inspect();
    // The gateway, carried from the container's own loopback to the host's gateway through a socket.
    expect(info.Config.Env).toContain('ANTHROPIC_BASE_URL=http://127.0.0.1:4011');
    expect(info.Config.Env).toContain('DAN_FORWARD=127.0.0.1:6379=/run/dan/redis.sock,127.0.0.1:4011=/run/dan/model-gateway.sock');
    expect(JSON.stringify(info.Config.Env)).not.toContain('TESTSECRET');
  });

  it('[audit #18] a command as uid 1000 cannot read the environment of PID 1 or of the agent', async () => {
    const denied = await execIn(containerId, `cat /proc/1/environ; cat /proc/$(${AGENT_PID})/environ`);
    expect(denied.match(/Permission denied/g)).toHaveLength(2);
  });

  it('[audit #18] no secret of the agent (gateway token, Redis passwords) is anywhere a uid-1000 command reads: environ and cmdline of every process, /tmp, the workspace', async () => {
    const seen = await execIn(containerId, "for p in /proc/[0-9]*; do cat $p/environ $p/cmdline 2>/dev/null; done | tr '\\0' '\\n'; find /tmp /workspace -type f -exec cat {} + 2>/dev/null");
    // What the loop does read: its own shell's environment and the agent's command line.
    expect(seen).toContain('TMPDIR=/tmp');
    expect(seen).toContain('/app/dist/bundle/agent.mjs');
    for (const secret of [gatewayToken, lockedRedis.passwords.agent, lockedRedis.passwords.main, lockedRedis.passwords.admin]) {
      expect(secret.length).toBeGreaterThan(16);
      expect(seen).not.toContain(secret);
    }
  });

  it('[audit #18] Redis, reachable from the container only through its forwarder, answers a command without the password with NOAUTH', async () => {
    const info = await docker.getContainer(containerId).inspect();
    const given = new URL(lockedRedis.agentUrl);
    const inside = new URL((info.Config.Env.find((line) => line.startsWith('REDIS_URL=')) ?? '').slice('REDIS_URL='.length));
    // The agent's own URL (user, password, database), on the container's loopback.
    expect({ host: inside.host, user: inside.username, password: inside.password, path: inside.pathname }).toEqual({ host: '127.0.0.1:6379', user: given.username, password: given.password, path: given.pathname });
    const reply = await execIn(containerId, `node -e "const s = require('net').connect(6379, '127.0.0.1', () => s.write('DBSIZE\\r\\n')); s.on('data', (d) => { process.stdout.write(d); s.end(); }); s.on('error', (e) => console.log(e.message))"`);
    expect(reply).toMatch(/^-NOAUTH/m);
  });

  // With DAN_DOCKER_NETWORK=host a container reached every loopback listener of the host, and any of
  // them without authentication (here a bare local model server standing for one) answered its
  // commands. The default network is Docker's `none`: the container's loopback is its own, and Redis
  // and the gateway come in through sockets (the tests above).
  it('[audit #18] a domain container on the default network cannot reach the host\'s loopback listeners', async () => {
    const info = await docker.getContainer(containerId).inspect();
    expect(info.HostConfig.NetworkMode).toBe('none');
    for (const port of [new URL(model.url!).port, redisPort, new URL(network.gateway.url).port]) {
      const probe = await execIn(containerId, `node -e "const s = require('net').connect(${port}, '127.0.0.1'); s.on('connect', () => { console.log('REACHED'); s.destroy(); }); s.on('error', () => console.log('REFUSED'))"`);
      expect(probe.trim(), `host port ${port}`).toBe('REFUSED');
    }
  });
});
