import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { scrubText } from '../scrub.js';
import type { Chunk } from './chunks.js';
import { FarmKeys, farmIndexKey } from './farm-keys.js';
import { claimChunkScript, editLockScript, releaseLocksScript, renewScript } from './farm-scripts.js';
import type { Problem } from './problems.js';

/** The ids of the `count` farms started last, newest first (`dan farm status` lists them). */
export async function recentFarmIds(redis: Redis, keys: Keys, count: number): Promise<string[]> {
  return redis.zrevrange(farmIndexKey(keys), 0, count - 1);
}

/** A farm event as recorded in its events stream; `at` is the stream id's time (ms). */
export interface FarmEvent {
  id: string;
  at: number;
  type: string;
  agent?: string;
  file?: string;
  chunk?: string;
  owner?: string;
  [field: string]: string | number | undefined;
}

export type ClaimOutcome = { kind: 'chunk'; chunk: Chunk } | { kind: 'none'; blocked: number; excluded: number };

// 1,000 lines per agent: enough to follow an agent's last minutes in `dan farm attach`.
const AGENT_STREAM_MAX = 1_000;

/**
 * A farm's state in Redis: its chunk queue with leases, file locks with owners and expiries, agent
 * states and event streams. Every change that touches several keys is one Lua script.
 */
export class FarmStore {
  readonly keys: FarmKeys;

  constructor(readonly redis: Redis, readonly baseKeys: Keys, readonly farmId: string) {
    this.keys = new FarmKeys(baseKeys, farmId);
  }

  /** Starts the farm's state afresh (an earlier attempt of the same task leaves its own behind). */
  async create(fields: Record<string, string>, now = Date.now()): Promise<void> {
    await this.forEachKey((found) => this.redis.del(...found));
    await this.redis.del(this.keys.base);
    await this.redis.multi()
      .hset(this.keys.farm(), { farm_id: this.farmId, started_at: new Date(now).toISOString(), ...fields })
      .zadd(farmIndexKey(this.baseKeys), now, this.farmId)
      .exec();
  }

  async update(fields: Record<string, string | number>): Promise<void> {
    await this.redis.hset(this.keys.farm(), fields);
  }

  async state(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.farm());
  }

  async stopRequested(): Promise<boolean> {
    return (await this.redis.hget(this.keys.farm(), 'stop_requested')) !== null;
  }

  async queueChunks(chunks: readonly Chunk[]): Promise<void> {
    if (chunks.length === 0) return;
    const multi = this.redis.multi();
    for (const chunk of chunks) {
      multi.hset(this.keys.chunk(chunk.id), {
        id: chunk.id, files: JSON.stringify(chunk.files), problems: JSON.stringify(chunk.problems), status: 'queued', attempts: '0',
        ...(chunk.part ? { part: chunk.part } : {}),
      });
      multi.rpush(this.keys.queue(), chunk.id);
    }
    await multi.exec();
  }

  async claim(agent: string, leaseMs: number, lockMs: number, now = Date.now()): Promise<ClaimOutcome> {
    const k = this.keys;
    const result = await claimChunkScript.run(this.redis, {
      keys: { queue: k.queue(), leases: k.leases(), events: k.events(), agentLocks: k.agentLocks(agent) },
      args: { keyPrefix: this.baseKeys.prefix, farmId: this.farmId, agent, nowMs: now, leaseMs, lockMs },
    });
    if (Array.isArray(result)) return { kind: 'none', blocked: Number(result[1] ?? 0), excluded: Number(result[2] ?? 0) };
    const chunk = await this.chunk(String(result));
    if (!chunk) return { kind: 'none', blocked: 0, excluded: 0 };
    return { kind: 'chunk', chunk };
  }

  async chunk(id: string): Promise<Chunk | undefined> {
    const hash = await this.redis.hgetall(this.keys.chunk(id));
    if (!hash['id']) return undefined;
    return {
      id, files: JSON.parse(hash['files'] ?? '[]') as string[], problems: JSON.parse(hash['problems'] ?? '[]') as Problem[],
      ...(hash['part'] ? { part: hash['part'] } : {}),
    };
  }

  async chunks(): Promise<Array<Record<string, string>>> {
    const ids = await this.redis.hget(this.keys.farm(), 'chunk_ids');
    const list = ids ? (JSON.parse(ids) as string[]) : [];
    return Promise.all(list.map((id) => this.redis.hgetall(this.keys.chunk(id))));
  }

  /** A chunk is over: done (with what is left) or given up; its lease goes. */
  async endChunk(id: string, fields: Record<string, string | number>): Promise<void> {
    // Out of the queue too: a lease that lapsed while the agent was still on it put it back there.
    const step = this.redis.multi().zrem(this.keys.leases(), id).lrem(this.keys.queue(), 0, id).hset(this.keys.chunk(id), fields);
    // The farm's counters move as chunks end, so `dan farm status` shows progress while the farm runs;
    // the farm writes the exact counts again when it ends.
    if (fields['status'] === 'done') step.hincrby(this.keys.farm(), 'chunks_done', 1);
    if (fields['status'] === 'given_up') step.hincrby(this.keys.farm(), 'chunks_given_up', 1);
    await step.exec();
  }

  /**
   * Hands a chunk back to the queue; with `agent`, for another agent (that one never takes it again).
   * Returns how many times it was handed back.
   */
  async giveBack(id: string, reason: string, agent?: string): Promise<number> {
    const result = await this.redis.multi()
      .zrem(this.keys.leases(), id)
      .hincrby(this.keys.chunk(id), 'attempts', 1)
      .hset(this.keys.chunk(id), { status: 'queued', last_error: reason, ...(agent ? { [`gave_back:${agent}`]: '1' } : {}) })
      .rpush(this.keys.queue(), id)
      .exec();
    return Number(result?.[1]?.[1] ?? 0);
  }

  async pendingCount(): Promise<{ queued: number; leased: number }> {
    const [queued, leased] = await Promise.all([this.redis.llen(this.keys.queue()), this.redis.zcard(this.keys.leases())]);
    return { queued, leased };
  }

  /** Removes a chunk from the queue (it will never be done); true if it was there. */
  async dropQueued(id: string): Promise<boolean> {
    return (await this.redis.lrem(this.keys.queue(), 0, id)) > 0;
  }

  async queued(): Promise<string[]> {
    return this.redis.lrange(this.keys.queue(), 0, -1);
  }

  /** Takes or keeps the lock on `file` for `agent`, or says who holds it. */
  async editLock(agent: string, file: string, lockMs: number, phase: 'before' | 'after'): Promise<{ allowed: boolean; owner: string }> {
    const k = this.keys;
    const result = (await editLockScript.run(this.redis, {
      keys: { lock: k.lock(file), agentLocks: k.agentLocks(agent), events: k.events() },
      args: { agent, file, lockMs, phase },
    })) as [number, string];
    return { allowed: Number(result[0]) === 1, owner: String(result[1]) };
  }

  async releaseLocks(agent: string): Promise<number> {
    return Number(await releaseLocksScript.run(this.redis, {
      keys: { agentLocks: this.keys.agentLocks(agent), events: this.keys.events() },
      args: { keyPrefix: this.baseKeys.prefix, farmId: this.farmId, agent },
    }));
  }

  async renew(agent: string, lockMs: number, chunkId: string | undefined, leaseMs: number, now = Date.now()): Promise<number> {
    return Number(await renewScript.run(this.redis, {
      keys: { agentLocks: this.keys.agentLocks(agent), leases: this.keys.leases() },
      args: { keyPrefix: this.baseKeys.prefix, farmId: this.farmId, agent, lockMs, chunkId: chunkId ?? '', leaseExpiryMs: now + leaseMs },
    }));
  }

  async lockedFiles(agent: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.agentLocks(agent))).sort();
  }

  async setAgent(agent: string, fields: Record<string, string | number>): Promise<void> {
    await this.redis.multi().sadd(this.keys.agents(), agent).hset(this.keys.agent(agent), fields).exec();
  }

  async incrAgent(agent: string, field: string, by: number): Promise<void> {
    if (by !== 0) await this.redis.hincrby(this.keys.agent(agent), field, by);
  }

  async agentNames(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.agents())).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  }

  async agent(agent: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.agent(agent));
  }

  /** One line of an agent's live output: its stream (for attach) and its last event (for status). */
  async agentLine(agent: string, raw: string, now = Date.now()): Promise<void> {
    const line = scrubText(raw);
    await this.redis.multi()
      .xadd(this.keys.agentStream(agent), 'MAXLEN', '~', AGENT_STREAM_MAX, '*', 'line', line)
      .hset(this.keys.agent(agent), { last_event: line.slice(0, 200), last_event_at: new Date(now).toISOString() })
      .exec();
  }

  /**
   * Up to `count` lines of an agent's live output after stream id `afterId` ('0': from the start), with
   * their stream ids. An id the stream trimmed meanwhile reads from the start again.
   */
  async agentLines(agent: string, afterId: string, count: number): Promise<{ id: string; line: string }[]> {
    const stream = this.keys.agentStream(agent);
    const entries = await this.redis.xrange(stream, `(${afterId}`, '+', 'COUNT', count).catch(async () => this.redis.xrange(stream, '-', '+', 'COUNT', count));
    return entries.map(([id, fields]) => ({ id, line: fields[1] ?? '' }));
  }

  /** The farm's `status` field alone, for a loop that polls it. */
  async status(): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.farm(), 'status')) ?? undefined;
  }

  async event(fields: Record<string, string>): Promise<void> {
    await this.redis.xadd(this.keys.events(), 'MAXLEN', '~', 10_000, '*', ...Object.entries(fields).flat().map(scrubText));
  }

  async events(): Promise<FarmEvent[]> {
    const entries = await this.redis.xrange(this.keys.events(), '-', '+');
    return entries.map(([id, flat]) => {
      const event: FarmEvent = { id, at: Number(id.split('-')[0]), type: '' };
      for (let i = 0; i + 1 < flat.length; i += 2) event[flat[i] as string] = flat[i + 1];
      return event;
    });
  }

  /** Every key of the farm expires after `retentionMs`, like the task's result. */
  async expire(retentionMs: number): Promise<void> {
    await this.redis.pexpire(this.keys.base, retentionMs);
    await this.forEachKey(async (found) => {
      const multi = this.redis.multi();
      for (const key of found) multi.pexpire(key, retentionMs);
      await multi.exec();
    });
  }

  private async forEachKey(action: (keys: string[]) => Promise<unknown>): Promise<void> {
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', `${this.keys.base}:*`, 'COUNT', 500);
      cursor = next;
      if (found.length > 0) await action(found);
    } while (cursor !== '0');
  }
}
