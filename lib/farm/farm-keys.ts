import type { Keys } from '../redis/keys.js';

/** Every Redis key of one farm, built in one place. A farm's id is its task's id. */
export class FarmKeys {
  readonly base: string;

  constructor(keys: Keys, readonly farmId: string) {
    this.base = `${keys.prefix}dan:farm:${farmId}`;
  }

  /** HASH: the farm's state (status, path, agents, counts, branches, stop flag). */
  farm(): string { return this.base; }
  /** LIST of chunk ids waiting for an agent. */
  queue(): string { return `${this.base}:queue`; }
  /** ZSET chunk id -> lease expiry (ms). */
  leases(): string { return `${this.base}:leases`; }
  /** HASH per chunk: files, problems (JSON), status, agent, attempts. */
  chunk(id: string): string { return `${this.base}:chunk:${id}`; }
  chunkPrefix(): string { return `${this.base}:chunk:`; }
  /** STRING per file: the agent holding its lock, with the lock's expiry. */
  lock(file: string): string { return `${this.base}:lock:${file}`; }
  lockPrefix(): string { return `${this.base}:lock:`; }
  /** HASH per agent: status, chunk, last event, restarts, tokens, pid, branch. */
  agent(name: string): string { return `${this.base}:agent:${name}`; }
  /** SET per agent: the files it holds locks on. */
  agentLocks(name: string): string { return `${this.base}:agent:${name}:locks`; }
  /** STREAM per agent: its event lines, what `dan farm attach` follows. */
  agentStream(name: string): string { return `${this.base}:agent:${name}:stream`; }
  /** STREAM of lock, edit and agent events of the whole farm. */
  events(): string { return `${this.base}:events`; }
  /** SET of the farm's agent names. */
  agents(): string { return `${this.base}:agents`; }
}

/** ZSET of every farm id by start time, for `dan farm status` without an id. */
export function farmIndexKey(keys: Keys): string {
  return `${keys.prefix}dan:farms`;
}
