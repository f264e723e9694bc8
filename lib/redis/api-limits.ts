import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { LuaFileScript } from './lua/lua-file-script.js';

const rateScript = new LuaFileScript({ file: 'api-rate-1.lua', keys: ['counter'], args: ['limit', 'windowMs'] });
const inFlightScript = new LuaFileScript({ file: 'api-in-flight-1.lua', keyTable: true, keys: ['open'], args: ['max', 'taskId', 'nowMs', 'graceMs', 'keyPrefix'] });

/** The window requests per minute are counted in. */
export const RATE_WINDOW_MS = 60_000;
/**
 * How long a job held open may go without a result hash before it counts as gone: a submit writes the
 * hash right after taking its place, so only a job that was never queued, or whose result expired, lacks one.
 */
const OPEN_WITHOUT_RESULT_MS = 60_000;

/**
 * The HTTP API's per-key limits, kept in Redis so every `dan serve` of a network counts the same:
 * requests per minute (a counter per key whose window starts at its first request), and jobs in
 * flight (a sorted set of the key's open job ids, those whose result says they ended pruned on each
 * submit, so nothing has to run when a job ends and a lost update cannot leak a place for good).
 */
export class ApiLimits {
  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly clock: () => number = Date.now) {}

  /** Counts a request of key `keyId`; refused past `limit` in the window, with how long until it ends. */
  async request(keyId: string, limit: number): Promise<{ allowed: boolean; retryAfterMs: number }> {
    const [allowed, left] = (await rateScript.run(this.redis, {
      keys: { counter: this.keys.apiRate(keyId) }, args: { limit, windowMs: RATE_WINDOW_MS },
    })) as [number, number];
    return { allowed: Number(allowed) === 1, retryAfterMs: Number(left) };
  }

  /** Takes a place for job `taskId` among key `keyId`'s open jobs, or says all `max` are taken. */
  async open(keyId: string, taskId: string, max: number): Promise<{ allowed: boolean; open: number }> {
    const [allowed, open] = (await inFlightScript.run(this.redis, {
      keys: { open: this.keys.apiOpen(keyId) },
      args: { max, taskId, nowMs: this.clock(), graceMs: OPEN_WITHOUT_RESULT_MS, keyPrefix: this.keys.prefix },
    })) as [number, number];
    return { allowed: Number(allowed) === 1, open: Number(open) };
  }

  /** Gives back the place of a job that was not queued after all. */
  async close(keyId: string, taskId: string): Promise<void> {
    await this.redis.zrem(this.keys.apiOpen(keyId), taskId);
  }
}
