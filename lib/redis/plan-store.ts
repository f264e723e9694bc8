import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/**
 * The plan the main orchestrator made for a routed task (`dan:plan:{id}`, JSON). It is stored once, so
 * a main that restarts mid-task resumes the same sub-tasks, and the CLI reads it to follow a parent's
 * sub-tasks before the parent's output lists them. The plan's shape belongs to the main orchestrator;
 * here it is JSON in and out.
 */
export class PlanStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  /** The stored plan, parsed; undefined when none was stored (or it expired with the task's result). */
  async read(taskId: string): Promise<unknown> {
    const text = await this.redis.get(this.keys.plan(taskId));
    return text ? (JSON.parse(text) as unknown) : undefined;
  }

  /**
   * Stores `plan` unless a plan is stored already, and answers with the plan that stands: the earlier
   * one (`stored: false`) or ours. SET NX GET does both in one step, so two attempts racing agree.
   */
  async storeOnce(taskId: string, plan: unknown, retentionMs: number): Promise<{ plan: unknown; stored: boolean }> {
    const earlier = (await this.redis.call('SET', this.keys.plan(taskId), JSON.stringify(plan), 'PX', String(retentionMs), 'NX', 'GET')) as string | null;
    return earlier ? { plan: JSON.parse(earlier) as unknown, stored: false } : { plan, stored: true };
  }
}
