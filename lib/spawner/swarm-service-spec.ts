import { createHash } from 'node:crypto';
import type { MountSettings, ServiceSpec } from 'dockerode';
import { containerPlan, LABELS, type DockerSpawnerOptions } from './docker-spawner.js';

/** What the Swarm spawner needs to write a domain's service: the Docker spawner's container settings, and the service's network. */
export type SwarmServiceOptions = Pick<DockerSpawnerOptions,
  'networkId' | 'image' | 'workspace' | 'user' | 'limits' | 'limitsFor' | 'tmpfsBytes' | 'elfStore' | 'agentsDir' | 'mountsFor' | 'secretEnv'> & {
  /** `host`, or an overlay network (attachable) that reaches Redis and the model gateway (DAN_SWARM_NETWORK). */
  network: string;
  /** How long a replica has between SIGTERM and SIGKILL when Swarm stops it (scale-down, removal, drain). */
  stopGraceMs: number;
};

/**
 * The service name of a domain on a network: `dan-{domain}-` and 8 hex of the network identity, so two
 * networks on one swarm keep apart; at most 63 characters, as Swarm requires.
 */
export function swarmServiceName(networkId: string, domain: string): string {
  const network = createHash('sha256').update(networkId).digest('hex').slice(0, 8);
  return `dan-${domain.slice(0, 50)}-${network}`;
}

/** The labels of a domain's service and of its replicas' containers: the Docker spawner's, plus the service. */
export function swarmLabels(networkId: string, domain: string): Record<string, string> {
  return { [LABELS.domain]: domain, [LABELS.managed]: 'true', [LABELS.role]: 'domain', [LABELS.network]: networkId, [LABELS.service]: swarmServiceName(networkId, domain) };
}

/**
 * A domain's service, with the Docker spawner's container hardening mapped to Swarm's task template:
 * read-only root filesystem (ContainerSpec.ReadOnly), every capability dropped but SETUID and SETGID for
 * the switch to DAN_RUN_AS (CapabilityDrop/CapabilityAdd), pids, memory and CPU limits
 * (Resources.Limits), the start user, a size-limited /tmp tmpfs, bounded json-file logs. Two have no
 * equivalent in a Swarm service on this engine's API (1.41): `no-new-privileges` (ContainerSpec.Privileges
 * gained NoNewPrivileges only in API 1.46) and a swap limit (MemorySwap); README says so. Swarm never
 * restarts a replica (RestartPolicy none): the supervisor decides, as with every spawner. Replicas
 * name themselves after their containers (DAN_AGENT_ID_FROM=container), as they share one spec.
 */
export function swarmServiceSpec(o: SwarmServiceOptions, domain: string, agentEnv: Record<string, string>, replicas: number): ServiceSpec {
  const { command, env, mounts, user, capAdd, limits } = containerPlan(o, domain, agentEnv);
  delete env['AGENT_ID'];
  env['DAN_AGENT_ID_FROM'] = 'container';
  const labels = swarmLabels(o.networkId, domain);
  const tmp = { Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: o.tmpfsBytes, Mode: 0o1777 } };
  return {
    Name: swarmServiceName(o.networkId, domain),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: o.image,
        // Args, not Command: the image's entry point (tini) stays.
        Args: command,
        Labels: labels,
        Hostname: `${domain}-{{.Task.Slot}}`,
        User: user,
        Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
        ReadOnly: true,
        CapabilityDrop: ['ALL'],
        CapabilityAdd: capAdd,
        Mounts: [...mounts, tmp as unknown as MountSettings],
        StopGracePeriod: o.stopGraceMs * 1e6,
      },
      // Pids in Limits: API 1.41 (Docker 20.10) and later.
      Resources: { Limits: { MemoryBytes: limits.memoryBytes, NanoCPUs: Math.round(limits.cpus * 1e9), Pids: limits.pids } as { MemoryBytes: number; NanoCPUs: number } },
      RestartPolicy: { Condition: 'none' },
      Networks: [{ Target: o.network }],
      LogDriver: { Name: 'json-file', Options: { 'max-size': '10m', 'max-file': '3' } },
    },
    Mode: { Replicated: { Replicas: replicas } },
  };
}

/** A service spec's `KEY=value` environment list as a record (the first `=` ends the key). */
export function specEnv(list: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of list ?? []) {
    const at = entry.indexOf('=');
    if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return env;
}
