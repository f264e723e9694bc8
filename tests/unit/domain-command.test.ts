import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../lib/config.js';
import { AGENT_BUNDLE, DOMAIN_NODE_FLAGS, containerDomainCommand } from '../../lib/spawner/domain-command.js';
import { containerPlan } from '../../lib/spawner/docker-spawner.js';
import { resolveProcessSpawnerOptions } from '../../lib/spawner/process-spawner.js';
import { swarmServiceSpec } from '../../lib/spawner/swarm-service-spec.js';
import { manifestFiles, readManifest } from '../support/kubernetes-manifests.js';

const DOMAIN_COMMAND = ['node', ...DOMAIN_NODE_FLAGS, '/app/dist/bundle/agent.mjs'];

const plan = {
  workspace: '/srv/ws', user: '1000:1000', limits: { memoryBytes: 1024 ** 3, cpus: 0.5, pids: 256 },
};

/** A container's AGENT_ROLE, and what it runs instead of the image's CMD and entry point, if anything. */
interface Runs {
  where: string;
  role: string | undefined;
  /** Compose's `command`, Kubernetes' `args`. */
  cmd: string[] | string | undefined;
  /** Kubernetes' `command`. */
  entrypoint?: string[] | undefined;
}

/** Every container of the Kubernetes manifests (Deployments, StatefulSets, Jobs), with its AGENT_ROLE. */
function kubernetesContainers(): Runs[] {
  return manifestFiles().flatMap((file) => readManifest(file).flatMap(({ object }) => {
    const spec = object['spec'] as { template?: { spec?: { containers?: unknown[] } } } | undefined;
    const containers = (spec?.template?.spec?.containers ?? []) as Array<{ command?: string[]; args?: string[]; env?: Array<{ name: string; value?: string }> }>;
    return containers.map((c) => ({ where: file, role: c.env?.find((e) => e.name === 'AGENT_ROLE')?.value, cmd: c.args, entrypoint: c.command }));
  }));
}

/** Every service of a compose file, its anchors merged, with its AGENT_ROLE. */
function composeServices(file: string): Runs[] {
  const services = (parse(readFileSync(path.join(packageRoot(), file), 'utf8'), { merge: true }) as {
    services: Record<string, { command?: string[] | string; environment?: Record<string, string> }>;
  }).services;
  return Object.entries(services).map(([name, service]) => ({ where: `${file}: ${name}`, role: service.environment?.['AGENT_ROLE'], cmd: service.command }));
}

describe('a domain agent\'s command line, the same in every start form', () => {
  it('the process spawner runs this Node with the domain flags, then the bundle', () => {
    const { command, defaultEntry } = resolveProcessSpawnerOptions();
    const bundle = path.join(packageRoot(), AGENT_BUNDLE);
    expect(command).toEqual([process.execPath, ...DOMAIN_NODE_FLAGS, bundle]);
    expect(defaultEntry).toBe(bundle);
    expect(resolveProcessSpawnerOptions({ command: ['node', 'other.mjs'] }).defaultEntry).toBeUndefined();
  });

  it('the Docker and Swarm spawners give their containers the domain command, after the image entry point', () => {
    expect(containerDomainCommand()).toEqual(DOMAIN_COMMAND);
    expect(containerPlan(plan, 'backend', {}).command).toEqual(DOMAIN_COMMAND);
    const spec = swarmServiceSpec({ ...plan, networkId: 'net', image: 'dan/agent:latest', tmpfsBytes: 1024, network: 'host', stopGraceMs: 1_000 }, 'backend', {}, 1);
    const container = (spec.TaskTemplate as { ContainerSpec?: { Args?: string[]; Command?: string[] } } | undefined)?.ContainerSpec;
    expect(container?.Args).toEqual(DOMAIN_COMMAND);
    expect(container?.Command).toBeUndefined();
  });

  it('every domain container of the Kubernetes manifests and compose runs it; the main orchestrator runs the image CMD, without the flags', () => {
    const dockerfile = readFileSync(path.join(packageRoot(), 'Dockerfile.agent'), 'utf8');
    expect(JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]')).toEqual(['node', '/app/dist/bundle/agent.mjs']);
    const all = [...kubernetesContainers(), ...composeServices('docker-compose.yml'), ...composeServices('docker-compose.host.yml')];
    const domains = all.filter((c) => c.role === 'domain');
    expect(domains.map((c) => c.where)).toEqual(expect.arrayContaining(['domains/backend.yaml', 'jobs/farm-job.yaml', 'docker-compose.yml: backend']));
    for (const c of [...domains, ...all.filter((c) => c.role === 'main')]) expect(c.entrypoint, `${c.where}: keeps the image entry point`).toBeUndefined();
    for (const c of domains) expect(c.cmd, c.where).toEqual(DOMAIN_COMMAND);
    const mains = all.filter((c) => c.role === 'main');
    expect(mains.map((c) => c.where)).toEqual(expect.arrayContaining(['main.yaml', 'docker-compose.yml: main-orchestrator']));
    for (const c of mains) expect(c.cmd, c.where).toBeUndefined();
  });
});
