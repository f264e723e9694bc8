import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * Connects a Sentinel connection again when ioredis ended it on its own. ioredis 5 (5.11 checked)
 * ends a Sentinel connection for good, every later command failing with "Connection is closed.",
 * when the Sentinels' `+switch-master` arrives while it is reconnecting: the failover detector of the
 * connection that died closes the connector in the middle of the new connect, and a connect that fails
 * sets the status to `end` instead of retrying. The bench's sentinel scenario stalled so, the clients'
 * connection `end` and every submit refused with that message, at its 3rd and 7th failover of two
 * runs out of three. A connection closed on purpose (`disconnect`, `quit`) stays closed.
 */
export function reopenWhenEndedByFailover(redis: Redis, logger: Logger, where: Record<string, string>, delayMs: (times: number) => number): void {
  let closedOnPurpose = false;
  let reopened = 0;
  const disconnect = redis.disconnect.bind(redis);
  redis.disconnect = (reconnect = false) => {
    if (!reconnect) closedOnPurpose = true;
    disconnect(reconnect);
  };
  const quit = redis.quit.bind(redis);
  redis.quit = ((...args: Parameters<Redis['quit']>) => {
    closedOnPurpose = true;
    return quit(...args);
  }) as Redis['quit'];
  redis.on('ready', () => {
    reopened = 0;
  });
  redis.on('end', () => {
    if (closedOnPurpose) return;
    reopened += 1;
    logger.warn(where, 'redis connection ended during a failover; connecting again through the Sentinels');
    setTimeout(() => {
      if (!closedOnPurpose && redis.status === 'end') redis.connect().catch(() => undefined);
    }, delayMs(reopened)).unref();
  });
}
