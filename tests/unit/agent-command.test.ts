import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../lib/config.js';
import { AGENT_BUNDLE, AGENT_NODE_FLAGS, containerAgentCommand } from '../../lib/spawner/agent-command.js';
import { containerPlan } from '../../lib/spawner/docker-spawner.js';
import { resolveProcessSpawnerOptions } from '../../lib/spawner/process-spawner.js';
import { swarmServiceSpec } from '../../lib/spawner/swarm-service-spec.js';
import { manifestFiles, readManifest } from '../support/kubernetes-manifests.js';

const IMAGE_COMMAND = ['node', ...AGENT_NODE_FLAGS, '/app/dist/bundle/agent.mjs'];

const plan = {
  workspace: '/srv/ws', user: '1000:1000', limits: { memoryBytes: 1024 ** 3, cpus: 0.5, pids: 256 },
};

/** Every container of a Kubernetes object (Deployment, StatefulSet, Job), with the file it is in. */
function containersOf(file: string): Array<{ file: string; image: string; command?: string[]; args?: string[] }> {
  return readManifest(file).flatMap(({ object }) => {
    const spec = object['spec'] as { template?: { spec?: { containers?: unknown[] } } } | undefined;
    return ((spec?.template?.spec?.containers ?? []) as Array<{ image: string; command?: string[]; args?: string[] }>).map((c) => ({ file, ...c }));
  });
}

describe('the agent command line, the same in every start form', () => {
  it('the process spawner runs this Node with the agent flags, then the bundle', () => {
    const { command, defaultEntry } = resolveProcessSpawnerOptions();
    const bundle = path.join(packageRoot(), AGENT_BUNDLE);
    expect(command).toEqual([process.execPath, ...AGENT_NODE_FLAGS, bundle]);
    expect(defaultEntry).toBe(bundle);
    expect(resolveProcessSpawnerOptions({ command: ['node', 'other.mjs'] }).defaultEntry).toBeUndefined();
  });

  it('the image CMD is the container command (compose, `docker run` and the hand-written manifests use it)', () => {
    const dockerfile = readFileSync(path.join(packageRoot(), 'Dockerfile.agent'), 'utf8');
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(cmd, 'Dockerfile.agent has a CMD line in exec form').toBeDefined();
    expect(JSON.parse(cmd ?? '[]')).toEqual(containerAgentCommand());
    expect(containerAgentCommand()).toEqual(IMAGE_COMMAND);
  });

  it('the Docker and Swarm spawners give their containers the agent command, after the image entry point', () => {
    expect(containerPlan(plan, 'backend', {}).command).toEqual(IMAGE_COMMAND);
    const spec = swarmServiceSpec({ ...plan, networkId: 'net', image: 'dan/agent:latest', tmpfsBytes: 1024, network: 'host', stopGraceMs: 1_000 }, 'backend', {}, 1);
    const container = (spec.TaskTemplate as { ContainerSpec?: { Args?: string[]; Command?: string[] } } | undefined)?.ContainerSpec;
    expect(container?.Args).toEqual(IMAGE_COMMAND);
    expect(container?.Command).toBeUndefined();
  });

  it('every agent container of the Kubernetes manifests runs the agent command (the generated ones) or the image CMD', () => {
    const agents = manifestFiles().flatMap(containersOf).filter((c) => c.image.startsWith('dan/agent'));
    const generated = agents.filter((c) => c.file.startsWith('domains/'));
    expect(generated.length).toBeGreaterThan(0);
    for (const container of generated) expect(container.args, container.file).toEqual(IMAGE_COMMAND);
    for (const container of agents) {
      // The rest run the image CMD, or the CLI (dan serve, say) rather than an agent.
      if (container.args) expect(container.args, container.file).toEqual(IMAGE_COMMAND);
      if (container.command) expect(container.command.join(' '), container.file).toMatch(/^node \/app\/dist\/bundle\/cli\.mjs /);
    }
  });

  it('compose runs agents with the image CMD, and the image only for the CLI otherwise', () => {
    for (const file of ['docker-compose.yml', 'docker-compose.host.yml']) {
      const services = (parse(readFileSync(path.join(packageRoot(), file), 'utf8'), { merge: true }) as { services: Record<string, { command?: string[] | string }> }).services;
      for (const [name, service] of Object.entries(services)) {
        const command = Array.isArray(service.command) ? service.command.join(' ') : service.command;
        if (command !== undefined && command.includes('/app/dist/bundle/')) expect(command, `${file}: ${name}`).toMatch(/\/app\/dist\/bundle\/cli\.mjs /);
      }
    }
  });
});
