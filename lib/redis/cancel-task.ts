import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { isoNow, systemClock } from '../clock.js';
import { oneLine } from '../errors.js';
import { scrubText } from '../scrub.js';
import type { Keys } from './keys.js';
import { cancelScript } from './lua/queue-scripts.js';

export type CancelOutcome =
  | { kind: 'cancelled'; taskId: string; owner: string | undefined; children: CancelOutcome[] }
  | { kind: 'ended'; taskId: string; status: string }
  | { kind: 'not_found'; taskId: string };

/**
 * Ends a task that has not ended as `failed` with `error` (default `cancelled`), wherever it is, and
 * then its sub-tasks the same way. The agent running it hears of it on `dan:cancel` and aborts.
 */
export async function cancelTask(
  redis: Redis, keys: Keys, taskId: string,
  options: { by: string; error?: string; reason?: string; retentionMs: number; clock?: Clock },
): Promise<CancelOutcome> {
  const clock = options.clock ?? systemClock;
  const now = isoNow(clock);
  const error = scrubText(oneLine(options.error ?? 'cancelled'));
  const line = `[${now}] ${options.by}: cancelled${options.reason ? `: ${scrubText(oneLine(options.reason))}` : ''}`;
  const reply = (await cancelScript.run(redis, {
    keys: { result: keys.result(taskId), events: keys.events(), logStream: keys.logStream(), cancelChannel: keys.cancelChannel() },
    args: { taskId, error, logLine: line, nowIso: now, retentionS: Math.ceil(options.retentionMs / 1000), keyPrefix: keys.prefix, by: options.by },
  })) as string[];
  if (reply[0] === 'not_found') return { kind: 'not_found', taskId };
  if (reply[0] === 'ended') return { kind: 'ended', taskId, status: reply[1] ?? '' };
  const children: CancelOutcome[] = [];
  for (const child of (await redis.smembers(keys.children(taskId))).sort()) {
    children.push(await cancelTask(redis, keys, child, { ...options, reason: `its parent ${taskId} was cancelled` }));
  }
  return { kind: 'cancelled', taskId, owner: reply[1] || undefined, children };
}
