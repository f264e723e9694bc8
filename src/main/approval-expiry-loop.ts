import type { Redis } from 'ioredis';
import { sleep } from '../../lib/clock.js';
import { toFailure } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { expireApprovals } from '../../lib/redis/approvals.js';
import type { Keys } from '../../lib/redis/keys.js';
import type { AgentLoop } from '../../lib/runtime/agent-lifecycle.js';

/**
 * The main orchestrator's sweep of approval windows: every `intervalMs` (DAN_SUPERVISE_INTERVAL_MS),
 * tasks whose window passed fail with `approval_timeout`. Main alone sweeps: a task awaiting approval
 * is held by no agent, and main is the one process every network has.
 */
export function approvalExpiryLoop(o: { redis: Redis; keys: Keys; agentId: string; logger: Logger; retentionMs: number; intervalMs: number }): AgentLoop {
  return {
    name: 'approval windows',
    run: async (signal) => {
      while (!signal.aborted) {
        try {
          let ended: string[];
          do {
            ended = await expireApprovals(o.redis, o.keys, { by: o.agentId, retentionMs: o.retentionMs });
            if (ended.length > 0) o.logger.info({ tasks: ended }, 'approval windows passed; tasks failed approval_timeout');
          } while (ended.length >= 100 && !signal.aborted);
        } catch (error) {
          if (signal.aborted) break;
          o.logger.warn({ err: toFailure(error).message }, 'could not sweep approval windows; retrying');
        }
        await sleep(o.intervalMs, signal).catch(() => undefined);
      }
    },
  };
}
