export const AGENT_ROLES = ['main', 'domain', 'worker'] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

/** `agents:info:{agent_id}` as protocol.md lists it. */
export interface AgentInfo {
  agent_id: string;
  role: AgentRole;
  domain_type: string;
  status: string;
  container_id: string;
  created_at: string;
  last_heartbeat: string;
  /** Ours, beyond the protocol: the host process id, and the parent agent of a worker. */
  pid?: string;
  parent_agent?: string;
  task_id?: string;
}

/** Domain names become key parts, agent ids and container names: keep them to a safe alphabet. */
export const DOMAIN_NAME_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;

export function isSafeDomainName(name: string): boolean {
  return DOMAIN_NAME_PATTERN.test(name);
}
