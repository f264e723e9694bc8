import Docker from 'dockerode';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import type { Config } from '../../lib/config.js';
import { settingsUsed } from '../../lib/config.js';
import { FORWARDED_SETTINGS, HOST_PATH_SETTINGS } from '../../lib/config/agent-env.js';
import { silentLogger } from '../../lib/logger.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { CONTAINER_WORKSPACE, DockerSpawner, LABELS, networkIdentity } from '../../lib/spawner/docker-spawner.js';
import { describeDocker, testAgentImage } from '../support/docker.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { otherValues } from '../support/settings.js';

const docker = new Docker();
let network: TestNetwork | undefined;
let farmDir: string | undefined;

afterEach(async () => {
  await network?.stop();
  network = undefined;
  if (farmDir) rmSync(farmDir, { recursive: true, force: true });
});

/** The Env of the container an agent runs in, as `docker inspect` shows it, by name. */
async function containerEnv(agentId: string): Promise<Map<string, string>> {
  const domainId = agentId.slice(agentId.lastIndexOf('-') + 1);
  const [found] = await docker.listContainers({ filters: { label: [`${LABELS.domainId}=${domainId}`] } });
  if (!found) throw new Error(`no running container for ${agentId}`);
  const info = await docker.getContainer(found.Id).inspect();
  return new Map((info.Config.Env ?? []).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

describeDocker('settings a Docker domain container gets', () => {
  beforeAll(async () => {
    await docker.getImage(testAgentImage()).inspect().catch(() => {
      throw new Error(`the agent image ${testAgentImage()} is missing: run scripts/build-local-images.sh`);
    });
  });

  it('carries every forwarded setting as main has it, container paths for host paths, and nothing only main reads', async () => {
    // Every forwarded setting off its default (the test network's Redis and prefix already are), so
    // a value that did not come from main cannot pass for one that did.
    const forwarded = otherValues(FORWARDED_SETTINGS.filter((name) => name !== 'REDIS_URL' && name !== 'DAN_KEY_PREFIX'));
    farmDir = mkdtempSync(path.join(os.tmpdir(), 'dan-test-farm-'));
    network = await startTestNetwork({
      env: {
        DAN_SPAWNER: 'docker', DAN_AGENT_IMAGE: testAgentImage(), DAN_SPAWN_TIMEOUT_MS: '30000',
        DAN_FARM_DIR: farmDir, DAN_CLAUDE_PATH: '/opt/only-on-this-host/claude', ...forwarded,
      },
      createSpawner: async (config: Config) => {
        chmodSync(config.workspace, 0o777);
        return DockerSpawner.start({
          networkId: networkIdentity(config.redisUrl, config.keyPrefix), image: config.docker.image, network: config.docker.network, workspace: config.workspace,
          user: config.docker.user, limits: { memoryBytes: config.docker.memoryBytes, cpus: config.docker.cpus, pids: config.docker.pids },
          tmpfsBytes: config.docker.tmpfsBytes, elfStore: config.elf.dir, logger: silentLogger,
        });
      },
    });
    const { redis, keys, config } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'ping', type: 'echo' });
    const hash = await network.waitFor(taskId, 60_000);
    expect(hash['status']).toBe('completed');
    const env = await containerEnv(hash['agent_id']!);

    for (const name of FORWARDED_SETTINGS.filter((n) => n !== 'REDIS_URL')) {
      const expected = config.settings[name];
      expect(env.get(name), name).toBe(expected === undefined ? undefined : String(expected));
    }
    // Redis as main gives it, reached on the container's own loopback (the default network is isolated).
    const given = new URL(config.redisUrl);
    given.host = '127.0.0.1:6379';
    expect(env.get('REDIS_URL')).toBe(given.href);
    for (const name of Object.keys(forwarded)) expect(env.get(name), name).toBe(forwarded[name]);
    // Host paths: the container's own workspace; for the others, the image's defaults (if any), never main's path.
    expect(env.get('DAN_WORKSPACE')).toBe(CONTAINER_WORKSPACE);
    for (const name of HOST_PATH_SETTINGS) expect(env.get(name), name).not.toBe(String(config.settings[name]));
    expect(env.has('DAN_FARM_DIR')).toBe(false);
    expect(env.has('DAN_CLAUDE_PATH')).toBe(false);
    for (const name of settingsUsed('main', 'docker')) expect(env.has(name), name).toBe(false);
  });
});
