import Docker from 'dockerode';
import { chmodSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import type { Config } from '../../lib/config.js';
import { parseRules } from '../../lib/llm/local-server/rules.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { silentLogger } from '../../lib/logger.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { DockerSpawner, LABELS, networkIdentity } from '../../lib/spawner/docker-spawner.js';
import { IsolatedNetwork } from '../../lib/spawner/isolated-network.js';
import { SocketForwarder } from '../../lib/net/socket-forwarder.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { describeDocker, testAgentImage } from '../support/docker.js';
import { until } from '../support/until.js';

const docker = new Docker();
let network: TestNetwork | undefined;

afterEach(async () => {
  await network?.stop();
  network = undefined;
});

/** A network whose domains start as containers of the local agent image, on the default (isolated) network. */
async function dockerNetwork(env: Record<string, string> = {}, rules?: ReturnType<typeof defaultRules>): Promise<TestNetwork> {
  return startTestNetwork({
    env: { DAN_SPAWNER: 'docker', DAN_AGENT_IMAGE: testAgentImage(), DAN_SPAWN_TIMEOUT_MS: '30000', ...env },
    ...(rules ? { rules } : {}),
    createSpawner: async (config: Config) => {
      // The agents run as uid 1000 and write into the bind-mounted workspace.
      chmodSync(config.workspace, 0o777);
      chmodSync(config.elf.dir, 0o777);
      return DockerSpawner.start({
        networkId: networkIdentity(config.redisUrl, config.keyPrefix), image: config.docker.image, network: config.docker.network, workspace: config.workspace, user: config.docker.user,
        limits: { memoryBytes: config.docker.memoryBytes, cpus: config.docker.cpus, pids: config.docker.pids },
        tmpfsBytes: config.docker.tmpfsBytes, elfStore: config.elf.dir, logger: silentLogger,
      });
    },
  });
}

async function containerOf(agentId: string): Promise<Docker.ContainerInspectInfo | undefined> {
  const [domain, id] = [agentId.slice(0, agentId.lastIndexOf('-')), agentId.slice(agentId.lastIndexOf('-') + 1)];
  const found = await docker.listContainers({ all: true, filters: { label: [`${LABELS.domain}=${domain}`, `${LABELS.domainId}=${id}`] } });
  return found[0] ? docker.getContainer(found[0].Id).inspect() : undefined;
}

describeDocker('the Docker spawner against a real engine', () => {
  beforeAll(async () => {
    await docker.getImage(testAgentImage()).inspect().catch(() => {
      throw new Error(`the agent image ${testAgentImage()} is missing: run scripts/build-local-images.sh`);
    });
  });

  it('starts a hardened, labelled container for a domain with work, which completes the task through the local model', async () => {
    network = await dockerNetwork();
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'Create a health endpoint' });
    const hash = await network.waitFor(taskId, 60_000);
    expect(hash['status']).toBe('completed');
    const output = JSON.parse(hash['output']!);
    expect(output.files_created.length).toBeGreaterThan(0);
    for (const file of output.files_created) expect(existsSync(path.join(network.workspace, file))).toBe(true);

    const agentId = hash['agent_id']!;
    expect(agentId).toMatch(/^backend-[0-9a-f]{8}$/);
    const info = (await containerOf(agentId))!;
    expect(info.Name).toBe(`/domain-${agentId}`);
    expect(info.Config.Hostname).toBe(agentId);
    expect(info.Config.Labels).toMatchObject({ [LABELS.domain]: 'backend', [LABELS.domainId]: agentId.slice(-8), [LABELS.managed]: 'true', [LABELS.network]: networkIdentity(network.config.redisUrl, network.config.keyPrefix) });
    // The default network: none, with Redis and the model reached through the sockets in /run/dan
    // (read-only) from listeners on the container's own loopback.
    const redisInside = new URL(network.config.redisUrl);
    redisInside.host = '127.0.0.1:6379';
    expect(info.Config.Env).toEqual(expect.arrayContaining(['AGENT_ROLE=domain', `AGENT_ID=${agentId}`, 'DOMAIN_TYPE=backend', `REDIS_URL=${redisInside.href}`, 'DAN_LLM_URL=http://127.0.0.1:4010']));
    expect(info.HostConfig.NetworkMode).toBe('none');
    // Started as root with SETUID and SETGID alone, which the agent gives up by switching to
    // DAN_RUN_AS before anything else (audit row 18; model-gateway-docker.test.ts checks the result).
    expect(info.Config.User).toBe('0:0');
    expect(info.Config.Env).toContain('DAN_RUN_AS=1000:1000');
    expect(info.HostConfig.Memory).toBe(1024 ** 3);
    // No swap beyond the memory limit, never privileged, no capability added back but those two.
    expect(info.HostConfig.MemorySwap).toBe(1024 ** 3);
    expect(info.HostConfig.Privileged).toBe(false);
    expect(((info.HostConfig.CapAdd ?? []) as string[]).map((cap) => cap.replace(/^CAP_/, '')).sort()).toEqual(['SETGID', 'SETUID']);
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.PidsLimit).toBe(256);
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges');
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(Object.keys(info.HostConfig.Tmpfs ?? {})).toEqual(['/tmp']);
    expect(info.Mounts.map((m) => [m.Destination, m.RW]).sort()).toEqual([['/run/dan', false], ['/workspace', true]]);
    expect(info.Mounts.some((m) => m.Source.includes('docker.sock'))).toBe(false);
    // The agent found its own container id and registered it (protocol.md's container_id).
    expect(await redis.hget(keys.agentInfo(agentId), 'container_id')).toBe(info.Id);
  });

  it('removes the container of a domain that went idle', async () => {
    network = await dockerNetwork({ DAN_DOMAIN_IDLE_MS: '1500' });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'frontend', description: 'ping', type: 'echo' });
    const hash = await network.waitFor(taskId, 60_000);
    expect(hash['status']).toBe('completed');
    const agentId = hash['agent_id']!;
    await until('the idle container to be removed', async () => (await containerOf(agentId)) === undefined);
    expect(await redis.sismember(keys.agentsAll(), agentId)).toBe(0);
    expect(network.events).toContainEqual(expect.objectContaining({ type: 'agent_exited', agentId, code: 0 }));
  });

  it('replaces a container killed mid-task, and the task still completes', async () => {
    const slow = parseRules([{ name: 'slow', when: { anyText: 'survive a kill', hasToolResult: false }, reply: { tool_use: [{ name: 'Glob', input: { pattern: '**/*' } }], delay_ms: 5_000 }, times: 1 }], 'test').rules;
    network = await dockerNetwork({}, [...slow, ...defaultRules()]);
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'devops', description: 'Dockerize the app so it can survive a kill' });
    const owner = await until('the task to be taken', async () => (await redis.hget(keys.result(taskId), 'agent_id')) ?? undefined);
    await until('the slow model call', async () => network!.model.requests.some((r) => JSON.stringify(r.body).includes('survive a kill')));
    const killed = await containerOf(owner);
    await docker.getContainer(killed!.Id).kill({ signal: 'SIGKILL' });

    const hash = await network.waitFor(taskId, 90_000);
    expect(hash['status']).toBe('completed');
    expect(hash['attempts']).toBe('2');
    expect(hash['agent_id']).not.toBe(owner);
    expect(network.events).toContainEqual(expect.objectContaining({ type: 'agent_exited', agentId: owner, signal: 'SIGKILL' }));
    await until('the killed container to be removed', async () => (await containerOf(owner)) === undefined);
  });

  it('adopts a running managed container instead of starting a second one for its domain', async () => {
    network = await dockerNetwork();
    const { redis, keys, config } = network;
    // A domain container started outside this main orchestrator (as compose or a previous main would).
    const adopted = await docker.createContainer({
      name: 'domain-devops-0a0b0c0d', Image: testAgentImage(), User: '1000:1000',
      Env: ['AGENT_ROLE=domain', 'AGENT_ID=devops-0a0b0c0d', 'DOMAIN_TYPE=devops', `REDIS_URL=${config.redisUrl}`, `DAN_KEY_PREFIX=${config.keyPrefix}`,
        'DAN_HEARTBEAT_INTERVAL_MS=300', 'DAN_HEARTBEAT_TTL_MS=1500', 'DAN_LLM=local', 'DAN_LOG_LEVEL=warn'],
      Labels: { [LABELS.domain]: 'devops', [LABELS.domainId]: '0a0b0c0d', [LABELS.managed]: 'true', [LABELS.network]: networkIdentity(config.redisUrl, config.keyPrefix) },
      HostConfig: { NetworkMode: 'host', ReadonlyRootfs: true, Tmpfs: { '/tmp': 'rw' }, AutoRemove: false },
    });
    try {
      await adopted.start();
      const spawner = await DockerSpawner.start({
        networkId: networkIdentity(config.redisUrl, config.keyPrefix), image: testAgentImage(), network: 'host', workspace: network.workspace, user: '1000:1000',
        limits: { memoryBytes: 1024 ** 3, cpus: 0.5, pids: 256 }, tmpfsBytes: 64 * 1024 ** 2, logger: silentLogger,
      });
      expect(spawner.adopt().map((a) => a.agentId)).toContain('devops-0a0b0c0d');
      await until('the adopted agent to heartbeat', async () => (await redis.exists(keys.heartbeat('devops-0a0b0c0d'))) === 1);
      const { taskId } = await submitTask(redis, keys, { domain: 'devops', description: 'ping', type: 'echo' });
      const hash = await network.waitFor(taskId, 60_000);
      expect(hash['status']).toBe('completed');
      expect(hash['agent_id']).toBe('devops-0a0b0c0d');
      const devops = await docker.listContainers({ filters: { label: [`${LABELS.domain}=devops`, `${LABELS.network}=${networkIdentity(config.redisUrl, config.keyPrefix)}`] } });
      expect(devops.map((c) => c.Names[0])).toEqual(['/domain-devops-0a0b0c0d']);
      await spawner.close(5_000);
      await until('the adopted container to be removed on close', async () => (await containerOf('devops-0a0b0c0d')) === undefined);
    } finally {
      await adopted.remove({ force: true }).catch(() => undefined);
    }
  });

  it('opens the sockets of an isolated container it adopted, so the agent a previous main left keeps working', async () => {
    // No elf domain: the test network's spawner starts no container, so the sockets are the previous main's, then this spawner's.
    network = await dockerNetwork({ DAN_ELF: 'off' });
    const { redis, keys, config } = network;
    const networkId = networkIdentity(config.redisUrl, config.keyPrefix);
    // The previous main's socket to Redis, in the network's folder, for the container it started. It
    // ends without closing its network (killed), so the folder stays and the socket goes.
    const socketDir = IsolatedNetwork.open(networkId, silentLogger).socketDir;
    const upstream = new URL(config.redisUrl);
    const previous = await SocketForwarder.start({ listen: { path: path.join(socketDir, 'redis.sock') }, target: { host: upstream.hostname, port: Number(upstream.port || 6379) }, socketMode: 0o666 });
    const inside = new URL(config.redisUrl);
    inside.host = '127.0.0.1:6379';
    const left = await docker.createContainer({
      name: 'domain-devops-0a0b0c0e', Image: testAgentImage(), User: '1000:1000',
      Env: ['AGENT_ROLE=domain', 'AGENT_ID=devops-0a0b0c0e', 'DOMAIN_TYPE=devops', `REDIS_URL=${inside.href}`, 'DAN_FORWARD=127.0.0.1:6379=/run/dan/redis.sock',
        `DAN_KEY_PREFIX=${config.keyPrefix}`, 'DAN_HEARTBEAT_INTERVAL_MS=300', 'DAN_HEARTBEAT_TTL_MS=30000', 'DAN_LLM=local', 'DAN_LOG_LEVEL=warn'],
      Labels: { [LABELS.domain]: 'devops', [LABELS.domainId]: '0a0b0c0e', [LABELS.managed]: 'true', [LABELS.network]: networkId },
      HostConfig: { NetworkMode: 'none', ReadonlyRootfs: true, Tmpfs: { '/tmp': 'rw' }, Mounts: [{ Type: 'bind', Source: socketDir, Target: '/run/dan', ReadOnly: true }] },
    });
    try {
      await left.start();
      await until('the agent to heartbeat through the previous main\'s socket', async () => (await redis.exists(keys.heartbeat('devops-0a0b0c0e'))) === 1);
      await previous.close();
      const spawner = await DockerSpawner.start({
        networkId, image: testAgentImage(), network: 'isolated', workspace: network.workspace, user: '1000:1000',
        limits: { memoryBytes: 1024 ** 3, cpus: 0.5, pids: 256 }, tmpfsBytes: 64 * 1024 ** 2, logger: silentLogger,
      });
      expect(spawner.adopt().map((a) => a.agentId)).toContain('devops-0a0b0c0e');
      await spawner.openServices({ REDIS_URL: config.redisUrl });
      const { taskId } = await submitTask(redis, keys, { domain: 'devops', description: 'ping', type: 'echo' });
      const hash = await network.waitFor(taskId, 60_000);
      expect(hash['status']).toBe('completed');
      expect(hash['agent_id']).toBe('devops-0a0b0c0e');
      await spawner.close(5_000);
      await until('the adopted container to be removed on close', async () => (await containerOf('devops-0a0b0c0e')) === undefined);
    } finally {
      await previous.close();
      await left.remove({ force: true }).catch(() => undefined);
    }
  });

  it('refuses an unsafe domain name before any Docker call, and names a missing image and how to build it', async () => {
    const options = {
      networkId: 'refusals', image: testAgentImage(), network: 'host', workspace: '/tmp', user: '1000:1000',
      limits: { memoryBytes: 1024 ** 3, cpus: 0.5, pids: 256 }, tmpfsBytes: 1024 ** 2, logger: silentLogger,
    };
    const spawner = await DockerSpawner.start(options);
    await expect(spawner.spawn({ domain: 'Bad_Name', agentId: 'Bad_Name-0000abcd', env: {} })).rejects.toThrow(/domain 'Bad_Name'.*lower-case letters/);
    await expect(spawner.spawn({ domain: '../etc', agentId: '../etc-0000abcd', env: {} })).rejects.toThrow(/domain '\.\.\/etc'/);
    expect((await docker.listContainers({ all: true })).some((c) => c.Names.some((n) => /Bad_Name|etc-/.test(n)))).toBe(false);
    await spawner.close();
    const missing = (await DockerSpawner.start({ ...options, image: 'dan/no-such-image:never' }).catch((e: unknown) => e)) as Error;
    expect(missing.message).toMatch(/dan\/no-such-image:never is not on this Docker host: build it with 'scripts\/build-local-images\.sh'/);
  });
});
