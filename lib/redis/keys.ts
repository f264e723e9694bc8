import type { Priority } from '../protocol/task.js';

/**
 * Every Redis key the network touches, built in one place. The protocol keys (protocol.md) keep
 * their exact names; keys of our own live under `dan:`. A prefix (default empty) scopes a whole
 * network, for tenants and for tests that share one Redis.
 */
export class Keys {
  constructor(readonly prefix = '') {}

  // --- protocol.md: what outside clients read and write -------------------------------------
  pending(domain: string): string { return `${this.prefix}tasks:pending:${domain}`; }
  active(domain: string): string { return `${this.prefix}tasks:active:${domain}`; }
  dead(domain: string): string { return `${this.prefix}tasks:dead:${domain}`; }
  result(taskId: string): string { return `${this.prefix}results:${taskId}`; }
  logs(taskId: string): string { return `${this.prefix}results:${taskId}:logs`; }
  /** Pub/sub channel with the same name as the result hash. */
  resultChannel(taskId: string): string { return this.result(taskId); }
  notifications(domain: string): string { return `${this.prefix}notifications:${domain}`; }

  agentsAll(): string { return `${this.prefix}agents:all`; }
  agentsDomains(): string { return `${this.prefix}agents:domains`; }
  agentsOfDomain(domain: string): string { return `${this.prefix}agents:domains:${domain}`; }
  agentsWorkers(): string { return `${this.prefix}agents:workers`; }
  agentsMain(): string { return `${this.prefix}agents:main`; }
  agentInfo(agentId: string): string { return `${this.prefix}agents:info:${agentId}`; }
  heartbeat(agentId: string): string { return `${this.prefix}agents:heartbeat:${agentId}`; }

  // --- ours ---------------------------------------------------------------------------------
  /** LIST: tasks moved off `tasks:pending` by a blocked consumer, not yet sorted by priority. */
  ingest(domain: string): string { return `${this.prefix}dan:ingest:${domain}`; }
  /** LIST per priority: validated-as-JSON tasks waiting to be claimed, FIFO within a priority. */
  ready(domain: string, priority: Priority): string { return `${this.prefix}dan:ready:${domain}:${priority}`; }
  /** ZSET task id -> lease expiry (ms since epoch) of tasks being worked on in a domain. */
  leases(domain: string): string { return `${this.prefix}dan:leases:${domain}`; }
  /** ZSET task id -> when (ms since epoch) its next attempt is due, after a retryable failure. */
  delayed(domain: string): string { return `${this.prefix}dan:delayed:${domain}`; }
  /** HASH per taken task: raw, domain, owner, token, attempts, max_attempts, priority, started_at, history. */
  task(taskId: string): string { return `${this.prefix}dan:task:${taskId}`; }
  /** Prefix of `task` keys, for the Lua scripts that build them from an id. */
  taskPrefix(): string { return `${this.prefix}dan:task:`; }
  resultPrefix(): string { return `${this.prefix}results:`; }
  /** SET of the sub-task ids a task queued, so cancelling it reaches them. */
  children(taskId: string): string { return `${this.prefix}dan:children:${taskId}`; }
  /** Channel on which a cancelled task's id is published, so the agent running it aborts its worker. */
  cancelChannel(): string { return `${this.prefix}dan:cancel`; }
  /** STRING: the plan the main orchestrator made for a task, so a restarted main resumes it unchanged. */
  plan(taskId: string): string { return `${this.prefix}dan:plan:${taskId}`; }
  /** STREAM of task lifecycle events (finished, dead-lettered); what ELF and dashboards follow. */
  events(): string { return `${this.prefix}dan:events`; }
  /** STREAM of every task log line with its task, agent and domain, for `dan logs --follow`. */
  logStream(): string { return `${this.prefix}dan:logs`; }
  /** Counter behind ids the queue assigns to tasks that came without one. */
  idCounter(): string { return `${this.prefix}dan:seq`; }
  /** HASH domain -> JSON of the domains the main orchestrator knows (for `dan send` validation). */
  /** Requests to the ELF memory (a list; the ELF process pops them). */
  elfRequests(): string { return `${this.prefix}dan:elf:requests`; }
  /** Channel on which ELF publishes the replies to one caller. */
  elfReplies(callerId: string): string { return `${this.prefix}dan:elf:reply:${callerId}`; }
  domainCatalog(): string { return `${this.prefix}dan:domains`; }

  /** Glob for every pending queue, to find pushes to domains nobody serves. */
  pendingPattern(): string { return `${this.prefix}tasks:pending:*`; }
  domainFromPending(key: string): string { return key.slice(`${this.prefix}tasks:pending:`.length); }
}
