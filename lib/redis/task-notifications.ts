import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/**
 * Follows `notifications:{domain}` (protocol.md: a client publishes there after a push) on a
 * subscriber connection, calling `onDomain` with the channel of each announcement. Resolves once
 * subscribed; the returned function stops listening (the pattern stays subscribed until the
 * connection closes, which costs nothing once nobody listens).
 */
export async function followTaskNotifications(subscriber: Redis, keys: Keys, onDomain: (channel: string) => void): Promise<() => void> {
  const pattern = keys.notifications('*');
  const onMessage = (matched: string, channel: string) => {
    if (matched === pattern) onDomain(channel);
  };
  subscriber.on('pmessage', onMessage);
  await subscriber.psubscribe(pattern);
  return () => void subscriber.off('pmessage', onMessage);
}
