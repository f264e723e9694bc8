import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTaskBudget, recordCallCost, reserveBudget, type CallBudgets, type CallCost } from '../../lib/redis/budgets.js';
import { Keys } from '../../lib/redis/keys.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

/**
 * Reservations of a gateway that died between budget-reserve and cost-settle: each is held with an
 * expiry, and the next reserve of that budget takes the lapsed ones back, so a dead gateway never
 * eats a budget for good; a settle that comes after its hold lapsed releases nothing twice.
 */
describe('budget reservations that nobody settles', () => {
  const prefix = uniquePrefix('budget-holds');
  const keys = new Keys(prefix);
  let redis: Redis;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ redis, cleanup } = await connectTestRedis(prefix));
  });

  afterAll(async () => {
    await cleanup();
  });

  const budgets = (taskId: string): CallBudgets => ({ taskId, client: 'acme', day: '2026-12-07', taskLimitMicro: 1_000, clientLimitMicro: 5_000 });
  const settled = (b: CallBudgets, holdId: string, reservedMicro: number, costMicro: number): CallCost => ({
    budgets: b, reservedMicro, holdId, costMicro, model: 'claude-sonnet-5-5', client: 'acme', domain: 'backend', worker: 'w', day: b.day, tokens: { input: 10, output: 5 },
  });
  const clientReserved = async (): Promise<number> => Number(await redis.hget(keys.budgetClient('acme', '2026-12-07'), 'reserved'));

  it('takes back a lapsed reservation at the next reserve, in the task budget and the client budget', async () => {
    const b = budgets('hold-lapsed-1');
    // A gateway reserves 800 of 1000 and dies: its hold lapses at once (0 ms).
    expect((await reserveBudget(redis, keys, b, 800, { id: 'dead', ms: 0 })).outcome).toBe('ok');
    expect(await readTaskBudget(redis, keys, b.taskId)).toMatchObject({ reservedMicro: 800 });
    // Another call of 800 would not fit beside it; the lapsed hold is taken back first, so it does.
    expect((await reserveBudget(redis, keys, b, 800, { id: 'live' })).outcome).toBe('ok');
    expect(await readTaskBudget(redis, keys, b.taskId)).toMatchObject({ reservedMicro: 800, spentMicro: 0 });
    expect(await clientReserved()).toBe(800);
    // The dead call's settle, late (its call outlived the hold): nothing is released twice.
    await recordCallCost(redis, keys, settled(b, 'dead', 800, 0));
    expect(await readTaskBudget(redis, keys, b.taskId)).toMatchObject({ reservedMicro: 800 });
    // The live call settles: its reservation goes, its cost stays.
    await recordCallCost(redis, keys, settled(b, 'live', 800, 300));
    expect(await readTaskBudget(redis, keys, b.taskId)).toEqual({ limitMicro: 1_000, spentMicro: 300, reservedMicro: 0 });
    expect(await clientReserved()).toBe(0);
    expect(Object.keys(await redis.hgetall(keys.budgetTask(b.taskId))).filter((f) => f.startsWith('hold:'))).toEqual([]);
  });

  it('keeps a reservation that has not lapsed: a call behind one that fills the budget waits for it', async () => {
    const b = budgets('hold-live-1');
    expect((await reserveBudget(redis, keys, b, 1_000, { id: 'first' })).outcome).toBe('ok');
    expect(await reserveBudget(redis, keys, b, 900, { id: 'second' })).toMatchObject({ outcome: 'wait', scope: 'task' });
    await recordCallCost(redis, keys, settled(b, 'first', 1_000, 900));
    expect(await readTaskBudget(redis, keys, b.taskId)).toEqual({ limitMicro: 1_000, spentMicro: 900, reservedMicro: 0 });
  });
});
