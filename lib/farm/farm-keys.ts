import type { Keys } from '../redis/keys.js';
import { fillKey } from '../redis/keys.js';

/**
 * Every Redis key of one farm, filled from the templates of lib/redis/keys.ts (which the farm's Lua
 * scripts also build their keys from). A farm's id is its task's id.
 */
export class FarmKeys {
  readonly base: string;
  private readonly prefix: string;

  constructor(keys: Keys, readonly farmId: string) {
    this.prefix = keys.prefix;
    this.base = fillKey(this.prefix, 'farm', farmId);
  }

  /** HASH: the farm's state (status, path, agents, counts, branches, stop flag). */
  farm(): string { return this.base; }
  /** LIST of chunk ids waiting for an agent. */
  queue(): string { return fillKey(this.prefix, 'farmQueue', this.farmId); }
  /** ZSET chunk id -> lease expiry (ms). */
  leases(): string { return fillKey(this.prefix, 'farmLeases', this.farmId); }
  /** HASH per chunk: files, problems (JSON), status, agent, attempts. */
  chunk(id: string): string { return fillKey(this.prefix, 'farmChunk', this.farmId, id); }
  /** STRING per file: the agent holding its lock, with the lock's expiry. */
  lock(file: string): string { return fillKey(this.prefix, 'farmLock', this.farmId, file); }
  /** HASH per agent: status, chunk, last event, restarts, tokens, pid, branch. */
  agent(name: string): string { return fillKey(this.prefix, 'farmAgent', this.farmId, name); }
  /** SET per agent: the files it holds locks on. */
  agentLocks(name: string): string { return fillKey(this.prefix, 'farmAgentLocks', this.farmId, name); }
  /** STREAM per agent: its event lines, what `dan farm attach` follows. */
  agentStream(name: string): string { return fillKey(this.prefix, 'farmAgentStream', this.farmId, name); }
  /** STREAM of lock, edit and agent events of the whole farm. */
  events(): string { return fillKey(this.prefix, 'farmEvents', this.farmId); }
  /** SET of the farm's agent names. */
  agents(): string { return fillKey(this.prefix, 'farmAgents', this.farmId); }
}

/** ZSET of every farm id by start time, for `dan farm status` without an id. */
export function farmIndexKey(keys: Keys): string {
  return fillKey(keys.prefix, 'farms');
}
