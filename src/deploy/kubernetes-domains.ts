import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { IContainer, IEnvVar, IVolume, IVolumeMount } from 'kubernetes-models/v1';
import { stringify } from 'yaml';
import type { DomainDefinition } from '../../lib/agents/agent-definitions.js';
import { kindOf } from '../../lib/agents/domain-kinds.js';
import type { Config } from '../../lib/config.js';
import { containerDomainCommand } from '../../lib/spawner/domain-command.js';

/** What the per-domain manifests depend on besides the agent catalog. */
export interface KubernetesDomainOptions {
  namespace: string;
  image: string;
  /** Where KEDA queries Prometheus (the Prometheus that scrapes main's /metrics port). */
  prometheusUrl: string;
  /** DAN_DOMAIN_CONCURRENCY: tasks one agent runs at once. */
  domainConcurrency: number;
  /** DAN_MAX_INSTANCES_PER_DOMAIN: the most replicas KEDA gives one domain. */
  maxReplicas: number;
  /** The network's defaults for a domain that sets no `container:` limits (DAN_DOCKER_MEMORY, DAN_DOCKER_CPUS). */
  memoryBytes: number;
  cpus: number;
  /** DAN_SHUTDOWN_GRACE_MS: how long an agent asked to stop takes to finish or hand back its work. */
  shutdownGraceMs: number;
}

/** One file of the generated tree: its path below deploy/kubernetes/ and its text. */
export interface ManifestFile {
  file: string;
  text: string;
}

/** Services and Secrets of the hand-written manifests (deploy/kubernetes/*.yaml) the domains refer to. */
export const K8S_NAMES = {
  mainService: 'dan-main',
  gatewayPort: 4011,
  redisSecret: 'dan-redis',
  gatewaySecret: 'dan-gateway',
  workspaceClaim: 'dan-workspace',
} as const;

/**
 * The PromQL a domain's ScaledObject scales on: its tasks waiting (pending, ready, delayed for a retry)
 * plus those running, so that replicas busy with work are not scaled away while the queue is empty.
 * `max by (state)` first: several scrape targets (main's /metrics port and `dan serve`) each export the
 * same counts, read from the same Redis, and must not be added up.
 */
export function scalingQuery(domain: string): string {
  return `sum(max by (state) (dan_queue_tasks{domain="${domain}",state=~"pending|ready|delayed|running"}))`;
}

const LABEL_PART_OF = 'app.kubernetes.io/part-of';
const LABEL_COMPONENT = 'app.kubernetes.io/component';
const LABEL_DOMAIN = 'distributed-agent-network/domain';

/** The same check the image's HEALTHCHECK runs: the agent's heartbeat key is in Redis. */
const healthcheck = { exec: { command: ['node', '/app/dist/bundle/healthcheck.mjs'] }, periodSeconds: 15, timeoutSeconds: 5 };

function secretEnv(name: string, secret: string, key: string): IEnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

function mebibytes(bytes: number): string {
  return `${Math.max(1, Math.round(bytes / 1024 ** 2))}Mi`;
}

function millicpus(cpus: number): string {
  return `${Math.max(1, Math.round(cpus * 1000))}m`;
}

/** The agent container of a domain: the image's entry point (tini) running the agent command, with its role in the environment. */
function domainContainer(domain: DomainDefinition, o: KubernetesDomainOptions, extraEnv: IEnvVar[], mounts: IVolumeMount[]): IContainer {
  const memory = domain.container.memoryBytes ?? o.memoryBytes;
  const cpus = domain.container.cpus ?? o.cpus;
  return {
    name: 'agent',
    image: o.image,
    args: containerDomainCommand(),
    env: [
      { name: 'AGENT_ROLE', value: 'domain' },
      { name: 'DOMAIN_TYPE', value: domain.name },
      // The agent's id is `{domain}-` and the first 8 hex of the pod's UID: the form the gateway charges the
      // standing token's calls to tasks by (a pod's name is not). The agent records it for the health check.
      { name: 'DAN_AGENT_ID_FROM', value: 'pod-uid' },
      { name: 'DAN_POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
      secretEnv('REDIS_URL', K8S_NAMES.redisSecret, 'agent-url'),
      // The model through main's gateway with the standing token: no domain holds the model key.
      { name: 'DAN_LLM', value: 'anthropic' },
      { name: 'ANTHROPIC_BASE_URL', value: `http://${K8S_NAMES.mainService}:${K8S_NAMES.gatewayPort}` },
      secretEnv('ANTHROPIC_API_KEY', K8S_NAMES.gatewaySecret, 'token'),
      { name: 'DAN_DOMAIN_CONCURRENCY', value: String(o.domainConcurrency) },
      { name: 'DAN_SHUTDOWN_GRACE_MS', value: String(o.shutdownGraceMs) },
      ...extraEnv,
    ],
    resources: {
      requests: { cpu: millicpus(cpus / 2), memory: mebibytes(memory / 2) },
      limits: { cpu: millicpus(cpus), memory: mebibytes(memory) },
    },
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    startupProbe: { ...healthcheck, failureThreshold: 10 },
    livenessProbe: { ...healthcheck, failureThreshold: 3 },
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, { name: 'workspace', mountPath: '/workspace' }, ...mounts],
  };
}

function deployment(domain: DomainDefinition, o: KubernetesDomainOptions, resident: boolean): IDeployment {
  const name = `dan-${domain.name}`;
  const labels = { [LABEL_PART_OF]: 'dan', [LABEL_COMPONENT]: 'domain', [LABEL_DOMAIN]: domain.name };
  const memory = kindOf(domain).mounts.includes('elfStore');
  const volumes: IVolume[] = [
    // /tmp is the agent's HOME and scratch space (the root filesystem is read-only).
    { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
    { name: 'workspace', persistentVolumeClaim: { claimName: K8S_NAMES.workspaceClaim } },
  ];
  const mounts: IVolumeMount[] = [];
  const env: IEnvVar[] = [];
  if (memory) {
    volumes.push({ name: 'elf', persistentVolumeClaim: { claimName: `${name}-store` } });
    mounts.push({ name: 'elf', mountPath: '/data/elf' });
    env.push({ name: 'DAN_ELF_DIR', value: '/data/elf' });
  }
  // A resident domain runs always; the others never stop for idleness: KEDA decides how many run.
  env.push({ name: 'DAN_DOMAIN_IDLE_MS', value: '0' });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: o.namespace, labels },
    spec: {
      // No `replicas` for a scaled domain: KEDA owns the count, and re-applying this file must not reset it.
      ...(resident ? { replicas: 1 } : {}),
      selector: { matchLabels: labels },
      // One writer of the ELF store at a time.
      ...(memory ? { strategy: { type: 'Recreate' } } : {}),
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          // SIGTERM: the agent finishes or hands back its work within DAN_SHUTDOWN_GRACE_MS, then exits.
          terminationGracePeriodSeconds: Math.ceil(o.shutdownGraceMs / 1000) + 20,
          containers: [domainContainer(domain, o, env, mounts)],
          volumes,
        },
      },
    },
  };
}

function scaledObject(domain: DomainDefinition, o: KubernetesDomainOptions): IScaledObject {
  const name = `dan-${domain.name}`;
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace: o.namespace, labels: { [LABEL_PART_OF]: 'dan', [LABEL_COMPONENT]: 'domain', [LABEL_DOMAIN]: domain.name } },
    spec: {
      scaleTargetRef: { name },
      minReplicaCount: 0,
      maxReplicaCount: o.maxReplicas,
      pollingInterval: 15,
      // Five minutes without work before the last replica goes (DAN_DOMAIN_IDLE_MS's default).
      cooldownPeriod: 300,
      triggers: [{
        type: 'prometheus',
        metadata: {
          serverAddress: o.prometheusUrl,
          query: scalingQuery(domain.name),
          // Main's own rule: another agent per DAN_DOMAIN_CONCURRENCY x 4 tasks (src/main/spawn-policy.ts).
          threshold: String(o.domainConcurrency * 4),
          // One task is enough to start the first replica.
          activationThreshold: '0',
          // No answer is an error (replicas stay as they are), never a reason to scale to zero.
          ignoreNullValues: 'false',
        },
      }],
    },
  };
}

function storeClaim(domain: DomainDefinition, o: KubernetesDomainOptions): IPersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: `dan-${domain.name}-store`, namespace: o.namespace, labels: { [LABEL_PART_OF]: 'dan', [LABEL_DOMAIN]: domain.name } },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  };
}

/**
 * The manifests of every domain of the catalog, one file each (`domains/<domain>.yaml`), as
 * `dan deploy k8s` writes them: a Deployment, and a KEDA ScaledObject scaling it from 0 on the
 * domain's tasks, or, for a resident domain (the ELF memory), one replica always and its store's claim.
 */
export function kubernetesDomainFiles(domains: readonly DomainDefinition[], o: KubernetesDomainOptions): ManifestFile[] {
  return [...domains].sort((a, b) => a.name.localeCompare(b.name)).map((domain) => {
    const kind = kindOf(domain);
    const documents: object[] = [];
    if (kind.mounts.includes('elfStore')) documents.push(storeClaim(domain, o));
    documents.push(deployment(domain, o, kind.resident));
    if (!kind.resident) documents.push(scaledObject(domain, o));
    const header = [
      `# The ${domain.name} domain (agents/${domain.name}/, handler ${domain.handler ?? 'workers'}).`,
      '# Written by `dan deploy k8s` from the agent catalog: change the catalog or the settings and run it again,',
      '# rather than editing this file (a test checks that it matches).',
    ].join('\n');
    return { file: `domains/${domain.name}.yaml`, text: `${header}\n${documents.map((d) => stringify(d, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n')}` };
  });
}

/** Where KEDA finds Prometheus unless `dan deploy k8s --prometheus-url` says otherwise. */
export const DEFAULT_PROMETHEUS_URL = 'http://prometheus.monitoring.svc:9090';

/** The options the shipped files are generated with: the network's settings, and the namespace the hand-written files use. */
export function kubernetesDomainOptions(config: Config, prometheusUrl = DEFAULT_PROMETHEUS_URL): KubernetesDomainOptions {
  return {
    namespace: 'dan',
    image: config.docker.image,
    prometheusUrl,
    domainConcurrency: config.domainConcurrency,
    maxReplicas: config.maxInstancesPerDomain,
    memoryBytes: config.docker.memoryBytes,
    cpus: config.docker.cpus,
    shutdownGraceMs: config.shutdownGraceMs,
  };
}
