import type { Redis } from 'ioredis';
import type { Clock } from '../../lib/clock.js';
import { sleep } from '../../lib/clock.js';
import { DanError, toFailure } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ElfReply } from '../../lib/elf/elf-protocol.js';
import { elfRequestSchema } from '../../lib/elf/elf-protocol.js';
import type { ElfStores } from '../../lib/elf/elf-stores.js';
import { popElfRequest, publishElfReply } from '../../lib/redis/elf-request-list.js';
import type { Keys } from '../../lib/redis/keys.js';
import type { AgentLoop } from '../../lib/runtime/agent-lifecycle.js';
import { handleElfRequest } from './elf-requests.js';

export interface ElfRequestLoopOptions {
  redis: Redis;
  /** Its own blocking connection: disconnected when the loop stops, so a wait on a gone Redis ends. */
  blocking: Redis;
  keys: Keys;
  stores: ElfStores;
  logger: Logger;
  clock: Clock;
}

/** ELF's request loop: one request at a time from `dan:elf:requests`, each answered on its reply channel. */
export function elfRequestLoop(o: ElfRequestLoopOptions): AgentLoop {
  return {
    name: 'ELF requests',
    run: async (signal) => {
      const onAbort = () => o.blocking.disconnect();
      signal.addEventListener('abort', onAbort, { once: true });
      while (!signal.aborted) {
        let raw: string | null;
        try {
          raw = await popElfRequest(o.blocking, o.keys, 1);
        } catch (error) {
          if (!signal.aborted) o.logger.warn({ err: (error as Error).message }, 'reading ELF requests failed; retrying');
          await sleep(500, signal);
          continue;
        }
        if (raw) await serveRequest(o, raw);
      }
      signal.removeEventListener('abort', onAbort);
    },
  };
}

async function serveRequest(o: ElfRequestLoopOptions, raw: string): Promise<void> {
  const { logger } = o;
  let parsed;
  try {
    parsed = elfRequestSchema.parse(JSON.parse(raw));
  } catch (error) {
    logger.warn({ err: toFailure(error).message, raw: raw.slice(0, 200) }, 'dropped a malformed ELF request');
    return;
  }
  if (parsed.deadline !== undefined && parsed.deadline < o.clock.now()) {
    logger.debug({ op: parsed.op, id: parsed.id }, 'skipped an ELF request its caller no longer waits for');
    return;
  }
  let reply: ElfReply;
  try {
    const result = await handleElfRequest(parsed, { stores: o.stores, logger });
    reply = { id: parsed.id, ok: true, result };
  } catch (error) {
    const failure = toFailure(error);
    reply = { id: parsed.id, ok: false, error: { code: error instanceof DanError ? error.code : 'elf_error', message: failure.message } };
    logger.info({ op: parsed.op, client: parsed.client_id, err: failure.message }, 'ELF request refused');
  }
  await publishElfReply(o.redis, parsed.reply_to, reply).catch((error: Error) => logger.warn({ err: error.message }, 'could not publish an ELF reply'));
}
