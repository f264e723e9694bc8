import { DanError } from '../errors.js';
import { containerAgentId, instanceSuffix } from '../spawner/spawner.js';

/** Where a domain agent started without AGENT_ID takes its id from (DAN_AGENT_ID_FROM). */
export type AgentIdSource = 'random' | 'container' | 'pod-uid';

/** What the agent knows of where it runs: its Docker container's id, its Kubernetes pod's UID. */
export interface AgentPlace {
  containerId?: string | undefined;
  /** DAN_POD_UID: the pod's UID from the downward API (`metadata.uid`), a UUID. */
  podUid?: string | undefined;
}

/**
 * The id a domain agent gives itself when no AGENT_ID is set: always `{domain}-{8 hex}`, the form the
 * model gateway charges a group token's calls by (`tokenHoldsTask`). `random` draws the 8 hex;
 * `container` takes its container id's first 8 (Swarm replicas; random outside a container); `pod-uid`
 * the first 8 of its Kubernetes pod's UID (a pod's name is not of that form).
 */
export function domainAgentId(domain: string, source: AgentIdSource, place: AgentPlace): string {
  if (source === 'container' && place.containerId) return containerAgentId(domain, place.containerId);
  if (source !== 'pod-uid') return `${domain}-${instanceSuffix()}`;
  const head = place.podUid?.slice(0, 8).toLowerCase() ?? '';
  if (!/^[0-9a-f]{8}$/.test(head)) {
    throw new DanError('bad_config', `DAN_AGENT_ID_FROM=pod-uid needs DAN_POD_UID, the pod's UID (got '${place.podUid ?? ''}'): set it from the downward API (env valueFrom.fieldRef.fieldPath: metadata.uid), as deploy/kubernetes/domains/*.yaml do`, { exitCode: 2 });
  }
  return `${domain}-${head}`;
}
