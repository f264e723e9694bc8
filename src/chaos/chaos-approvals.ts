import type { Redis } from 'ioredis';
import type { Keys } from '../../lib/redis/keys.js';

/** How the tasks of a run gated by approval kept to their gate. */
export interface ApprovalCheck {
  gated: number;
  /** Approved by the run's approver loop (a gated task whose dependency failed never asks). */
  approved: number;
  /** Completed without an approval on their result: they ran past their gate. */
  ranUnapproved: string[];
}

/** Reads each gated task's result: one that completed must say it was approved. */
export async function checkApprovals(redis: Redis, keys: Keys, gated: readonly string[], approved: number): Promise<ApprovalCheck> {
  const ranUnapproved: string[] = [];
  for (const taskId of gated) {
    const [status, approval] = await redis.hmget(keys.result(taskId), 'status', 'approval');
    if (status === 'completed' && approval !== 'approved') ranUnapproved.push(taskId);
  }
  return { gated: gated.length, approved, ranUnapproved };
}
