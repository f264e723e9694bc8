import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { parseMemorySize } from '../../lib/agents/agent-definitions.js';
import { loadConfig } from '../../lib/config.js';
import { DanError } from '../../lib/errors.js';
import { ownContainerId } from '../../lib/runtime/container-id.js';
import { connectDocker, DockerSpawner, networkIdentity } from '../../lib/spawner/docker-spawner.js';

describe('parseMemorySize', () => {
  it.each([
    ['1g', 1024 ** 3], ['512m', 512 * 1024 ** 2], ['1.5g', 1.5 * 1024 ** 3], ['64MiB', 64 * 1024 ** 2], ['2048', 2048], [1024, 1024],
  ])('reads %s', (text, bytes) => expect(parseMemorySize(text)).toBe(bytes));
  it.each(['', 'lots', '1t', '-1g', '0'])('refuses %j', (text) => expect(parseMemorySize(text)).toBeUndefined());
});

describe('Docker settings', () => {
  it('defaults to 1 GiB, half a CPU, 256 processes, the isolated network and the workspace folder', () => {
    const config = loadConfig({ DAN_WORKSPACE: '/srv/ws' });
    expect(config.spawner).toBe('process');
    expect(config.docker).toEqual({
      networkId: undefined, image: 'dan/agent:latest', network: 'isolated', workspace: '/srv/ws', elfStore: expect.stringMatching(/\/\.dan\/elf$/), user: '1000:1000',
      memoryBytes: 1024 ** 3, cpus: 0.5, pids: 256, tmpfsBytes: 256 * 1024 ** 2, swarmNetwork: 'host',
    });
  });

  it('reads every setting, and a named volume as the workspace', () => {
    const config = loadConfig({
      DAN_SPAWNER: 'docker', DAN_AGENT_IMAGE: 'me/agent:1', DAN_DOCKER_NETWORK: 'dan-network', DAN_DOCKER_WORKSPACE: 'dan-workspace',
      DAN_DOCKER_MEMORY: '2g', DAN_DOCKER_CPUS: '1.5', DAN_DOCKER_PIDS: '512', DAN_DOCKER_USER: '1001:1001',
    });
    expect(config.spawner).toBe('docker');
    expect(config.docker).toMatchObject({ image: 'me/agent:1', network: 'dan-network', workspace: 'dan-workspace', memoryBytes: 2 * 1024 ** 3, cpus: 1.5, pids: 512, user: '1001:1001' });
  });

  it('lists every bad Docker setting at once', () => {
    expect(() => loadConfig({ DAN_SPAWNER: 'k8s', DAN_DOCKER_MEMORY: 'plenty', DAN_DOCKER_CPUS: '0' })).toThrow(
      /DAN_SPAWNER[\s\S]*DAN_DOCKER_MEMORY: must be a memory size[\s\S]*DAN_DOCKER_CPUS/,
    );
  });

  it('reads where the local model server listens and what agents are told', () => {
    const config = loadConfig({ DAN_LOCAL_LLM_LISTEN: '0.0.0.0:4010', DAN_LOCAL_LLM_ADVERTISE: 'http://main-orchestrator:4010' });
    expect(config.llm.localListen).toBe('0.0.0.0:4010');
    expect(config.llm.localAdvertise).toBe('http://main-orchestrator:4010');
    expect(() => loadConfig({ DAN_LOCAL_LLM_LISTEN: '4010' })).toThrow(/DAN_LOCAL_LLM_LISTEN: must be host:port/);
  });
});

describe('per-domain container limits in domain.md', () => {
  function catalogWith(frontMatter: string) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-limits-'));
    try {
      mkdirSync(path.join(dir, 'main'));
      writeFileSync(path.join(dir, 'main', 'router.md'), '---\nname: main\ndescription: Routes tasks\n---\nRoute.\n');
      mkdirSync(path.join(dir, 'data', 'workers'), { recursive: true });
      writeFileSync(path.join(dir, 'data', 'domain.md'), `---\nname: data\ndescription: Data pipelines\nkeywords: [etl]\n${frontMatter}---\nRun data.\n`);
      writeFileSync(path.join(dir, 'data', 'workers', 'etl.md'), '---\nname: etl\ndescription: ETL jobs\ntools: [Read]\nkeywords: [etl]\ndefault: true\n---\nDo ETL.\n');
      return loadAgentCatalog(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('reads memory, CPUs and processes', () => {
    expect(catalogWith('container_memory: 2g\ncontainer_cpus: 2\ncontainer_pids: 1024\n').domain('data')?.container).toEqual({ memoryBytes: 2 * 1024 ** 3, cpus: 2, pids: 1024 });
  });

  it('leaves them to the network defaults when absent', () => {
    expect(catalogWith('').domain('data')?.container).toEqual({});
  });

  it('names the file and field of a bad limit', () => {
    expect(() => catalogWith('container_memory: a lot\n')).toThrow(/data\/domain\.md.*container_memory.*memory size/);
  });
});

describe('ownContainerId', () => {
  const id = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + 'b'.repeat(4);
  it('finds the id in mountinfo (any cgroup version)', () => {
    const mountinfo = `612 590 0:52 /containers/${id}/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw\n`;
    expect(ownContainerId((file) => (file === '/proc/self/mountinfo' ? mountinfo : ''))).toBe(id);
  });
  it('falls back to the cgroup v1 path', () => {
    expect(ownContainerId((file) => { if (file === '/proc/self/mountinfo') throw new Error('ENOENT'); return `12:pids:/docker/${id}\n`; })).toBe(id);
  });
  it('is undefined outside a container', () => {
    expect(ownContainerId(() => '25 1 8:1 / / rw - ext4 /dev/sda1 rw\n0::/user.slice\n')).toBeUndefined();
  });
});

describe('networkIdentity', () => {
  it('is the Redis host, port, database and prefix, without the password', () => {
    expect(networkIdentity('redis://:secret@127.0.0.1:6391', 'dan-test-1:')).toBe('127.0.0.1:6391/0#dan-test-1:');
    expect(networkIdentity('rediss://user:pw@cache.example.com/2', '')).toBe('cache.example.com:6379/2');
  });
  it('is DAN_NETWORK_ID when set', () => {
    expect(networkIdentity('redis://message-broker:6379', '', 'dan')).toBe('dan');
  });
});

describe('no Docker engine', () => {
  it('fails with exit code 3, where it looked, and how to use the process spawner instead', async () => {
    const error = await connectDocker({ socketPath: '/nonexistent/docker.sock' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DanError);
    expect((error as DanError).exitCode).toBe(3);
    expect((error as DanError).message).toMatch(/no Docker engine answers at \/nonexistent\/docker\.sock.*DAN_SPAWNER=process/);
    const viaSpawner = await DockerSpawner.start({
      networkId: 'test', image: 'dan/agent:local', network: 'host', workspace: '/tmp', user: '1000:1000', endpoint: { socketPath: '/nonexistent/docker.sock' },
      limits: { memoryBytes: 1024 ** 3, cpus: 0.5, pids: 256 }, tmpfsBytes: 1024 ** 2,
    }).catch((e: unknown) => e);
    expect((viaSpawner as DanError).exitCode).toBe(3);
  });
});
