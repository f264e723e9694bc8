import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/**
 * The list ELF serves requests from (`dan:elf:requests`): workers, the CLI and MCP clients push a JSON
 * request and wait on its `reply_to` channel. Waits at most `timeoutS` seconds; null when nothing came.
 */
export async function popElfRequest(blocking: Redis, keys: Keys, timeoutS: number): Promise<string | null> {
  const popped = await blocking.brpop(keys.elfRequests(), timeoutS);
  return popped ? popped[1] : null;
}

/** Publishes a reply where its caller waits. */
export async function publishElfReply(redis: Redis, replyTo: string, reply: unknown): Promise<void> {
  await redis.publish(replyTo, JSON.stringify(reply));
}
