import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Namespace, PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import type { IContainer, IPodSpec } from 'kubernetes-models/v1';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { offeredDomains } from '../../lib/agents/domain-kinds.js';
import { loadConfig, packageRoot } from '../../lib/config.js';
import { kubernetesDomainFiles, kubernetesDomainOptions, scalingQuery } from '../../src/deploy/kubernetes-domains.js';
import { KUBERNETES_DIR, manifestFiles, readManifest, scaledObjectQuery, type ManifestDocument } from '../support/kubernetes-manifests.js';

/**
 * The schema of every kind the manifests use: kubernetes-models (the Kubernetes OpenAPI schemas as
 * JSON-schema validators) and @kubernetes-models/keda (KEDA's CRD schemas). A kind not listed here
 * fails the test rather than pass unchecked.
 */
const SCHEMAS: Record<string, (object: Record<string, unknown>) => void> = {
  'v1/Namespace': (o) => new Namespace(o as never).validate(),
  'v1/Service': (o) => new Service(o as never).validate(),
  'v1/PersistentVolumeClaim': (o) => new PersistentVolumeClaim(o as never).validate(),
  'apps/v1/Deployment': (o) => new Deployment(o as never).validate(),
  'apps/v1/StatefulSet': (o) => new StatefulSet(o as never).validate(),
  'batch/v1/Job': (o) => new Job(o as never).validate(),
  'networking.k8s.io/v1/NetworkPolicy': (o) => new NetworkPolicy(o as never).validate(),
  'keda.sh/v1alpha1/ScaledObject': (o) => new ScaledObject(o as never).validate(),
};

function validate(document: ManifestDocument): void {
  const { apiVersion, kind } = document.object as { apiVersion?: string; kind?: string };
  const check = SCHEMAS[`${apiVersion}/${kind}`];
  if (!check) throw new Error(`${document.file}: no schema for ${apiVersion}/${kind}: add it to SCHEMAS`);
  check(document.object);
}

const files = manifestFiles().filter((file) => file !== 'kustomization.yaml');
const documents = files.flatMap((file) => readManifest(file));
const byKind = (kind: string) => documents.filter((d) => d.object['kind'] === kind);

/** Every pod template of the manifests, with where it came from. */
function podSpecs(): { where: string; spec: IPodSpec }[] {
  return documents.flatMap((d) => {
    const spec = (d.object['spec'] as { template?: { spec?: IPodSpec } } | undefined)?.template?.spec;
    return spec ? [{ where: `${d.file} ${String((d.object['metadata'] as { name?: string; generateName?: string }).name ?? (d.object['metadata'] as { generateName?: string }).generateName)}`, spec }] : [];
  });
}

function containersOf(spec: IPodSpec): IContainer[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

describe('the Kubernetes manifests under deploy/kubernetes', () => {
  it('validates every document of every file against the Kubernetes and KEDA schemas', () => {
    expect(documents.length).toBeGreaterThan(20);
    for (const document of documents) expect(() => validate(document), `${document.file} #${document.index + 1}`).not.toThrow();
    expect(byKind('ScaledObject').length).toBeGreaterThanOrEqual(4);
  });

  it('rejects a broken manifest: the check can fail', () => {
    const deployment = structuredClone(byKind('Deployment')[0]!);
    (deployment.object['spec'] as { replicas?: unknown }).replicas = 'two';
    expect(() => validate(deployment)).toThrow(/replicas must be integer/);
    const withoutContainers = structuredClone(byKind('Deployment')[0]!);
    delete (withoutContainers.object['spec'] as { template: { spec: { containers?: unknown } } }).template.spec.containers;
    expect(() => validate(withoutContainers)).toThrow(/containers/);
    const scaled = structuredClone(byKind('ScaledObject')[0]!);
    delete (scaled.object['spec'] as { triggers: { type?: string }[] }).triggers[0]!.type;
    expect(() => validate(scaled)).toThrow(/type/);
    expect(() => validate({ file: 'made-up.yaml', index: 0, object: { apiVersion: 'v1', kind: 'Pdo' } })).toThrow(/no schema for v1\/Pdo/);
  });

  it('applies with kustomize exactly as the files are: resources only, each file once, jobs/ left to the user', () => {
    const [kustomization] = readManifest('kustomization.yaml');
    expect(Object.keys(kustomization!.object).sort()).toEqual(['apiVersion', 'kind', 'resources']);
    const resources = kustomization!.object['resources'] as string[];
    expect([...resources].sort()).toEqual(files.filter((file) => !file.startsWith('jobs/')));
  });

  it('holds the per-domain files `dan deploy k8s` writes from the agent catalog', () => {
    const config = loadConfig({});
    const domains = offeredDomains(loadAgentCatalog(path.join(packageRoot(), 'agents')), { elfEnabled: true });
    const generated = kubernetesDomainFiles(domains, kubernetesDomainOptions(config));
    expect(generated.map((f) => f.file)).toEqual(files.filter((file) => file.startsWith('domains/')));
    for (const f of generated) expect(readFileSync(path.join(KUBERNETES_DIR, f.file), 'utf8'), f.file).toBe(f.text);
  });

  it('scales each non-resident domain from 0 on its tasks, through a Deployment of the same file', () => {
    for (const scaled of byKind('ScaledObject')) {
      const domain = /^domains\/(.+)\.yaml$/.exec(scaled.file)?.[1] ?? '';
      const spec = scaled.object['spec'] as { minReplicaCount: number; scaleTargetRef: { name: string } };
      expect(spec.minReplicaCount).toBe(0);
      expect(scaledObjectQuery(domain)).toBe(scalingQuery(domain));
      const target = documents.find((d) => d.file === scaled.file && d.object['kind'] === 'Deployment');
      expect((target?.object['metadata'] as { name: string }).name).toBe(spec.scaleTargetRef.name);
      // KEDA owns the count: a replicas field would reset it at every apply.
      expect((target?.object['spec'] as { replicas?: number }).replicas).toBeUndefined();
    }
  });

  it('runs every pod as non-root on a read-only root, with limits and no capability', () => {
    const specs = podSpecs();
    expect(specs.length).toBeGreaterThanOrEqual(8);
    for (const { where, spec } of specs) {
      expect(spec.securityContext?.runAsNonRoot, where).toBe(true);
      expect(spec.automountServiceAccountToken, where).toBe(false);
      for (const c of containersOf(spec)) {
        expect(c.securityContext?.readOnlyRootFilesystem, `${where} ${c.name}`).toBe(true);
        expect(c.securityContext?.allowPrivilegeEscalation, `${where} ${c.name}`).toBe(false);
        expect(c.securityContext?.capabilities?.drop, `${where} ${c.name}`).toContain('ALL');
        expect(c.resources?.limits?.['cpu'], `${where} ${c.name}`).toBeDefined();
        expect(c.resources?.limits?.['memory'], `${where} ${c.name}`).toBeDefined();
      }
    }
  });

  it('takes every secret from a Secret, and the model key into main alone', () => {
    for (const { where, spec } of podSpecs()) {
      for (const c of containersOf(spec)) {
        for (const env of c.env ?? []) {
          if (/PASSWORD|TOKEN|API_KEY|REDIS_URL|REDISCLI_AUTH/.test(env.name)) {
            expect(env.value, `${where} ${c.name} ${env.name}`).toBeUndefined();
            expect(env.valueFrom?.secretKeyRef?.name, `${where} ${c.name} ${env.name}`).toMatch(/^dan-/);
          }
          if (env.valueFrom?.secretKeyRef?.name === 'dan-model') expect(where).toMatch(/^main\.yaml /);
        }
      }
    }
  });

  it("probes each agent with the image's health check, and names each domain agent `{domain}-{8 hex}` after its pod", () => {
    let domainAgents = 0;
    for (const { where, spec } of podSpecs()) {
      for (const c of spec.containers) {
        const env = (name: string) => (c.env ?? []).find((e) => e.name === name);
        if (!env('AGENT_ROLE')) continue;
        expect(c.livenessProbe?.exec?.command, where).toEqual(['node', '/app/dist/bundle/healthcheck.mjs']);
        if (env('AGENT_ROLE')?.value === 'main') {
          expect(env('AGENT_ID')?.valueFrom?.fieldRef?.fieldPath, where).toBe('metadata.name');
          continue;
        }
        // No AGENT_ID (the pod's name is not of the form the gateway charges to tasks): the agent derives
        // its id from the pod's UID and records it where the health check reads it.
        domainAgents += 1;
        expect(env('AGENT_ID'), where).toBeUndefined();
        expect(env('DAN_AGENT_ID_FROM')?.value, where).toBe('pod-uid');
        expect(env('DAN_POD_UID')?.valueFrom?.fieldRef?.fieldPath, where).toBe('metadata.uid');
      }
    }
    // Every domain's Deployment, and the farm Job.
    const domainWorkloads = documents.filter((d) => (d.object['metadata'] as { labels?: Record<string, string> }).labels?.['app.kubernetes.io/component'] === 'domain' && /^(Deployment|Job)$/.test(String(d.object['kind'])));
    expect(domainAgents).toBe(domainWorkloads.length);
    expect(domainAgents).toBeGreaterThanOrEqual(5);
  });
});
