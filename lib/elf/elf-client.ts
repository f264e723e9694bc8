import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { asDanErrorCode, DanError } from '../errors.js';
import type { Keys } from '../redis/keys.js';
import type { ElfOp, ElfReply, ElfRequest } from './elf-protocol.js';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Asks the ELF memory over Redis: pushes a request onto `dan:elf:requests` and waits for the reply
 * on this caller's channel. Calls run concurrently over one subscription. A call that gets no reply
 * in time fails with `elf_timeout`, so a caller can go on without memory.
 */
export class ElfClient {
  private readonly pending = new Map<string, Pending>();
  private readonly channel: string;
  private subscribed: Promise<unknown> | undefined;
  private readonly onMessage = (channel: string, message: string) => {
    if (channel !== this.channel) return;
    let reply: ElfReply;
    try {
      reply = JSON.parse(message) as ElfReply;
    } catch {
      return;
    }
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    clearTimeout(waiting.timer);
    if (reply.ok) waiting.resolve(reply.result);
    else waiting.reject(new DanError(asDanErrorCode(reply.error.code), reply.error.message, { exitCode: reply.error.code === 'not_found' || reply.error.code === 'invalid_input' ? 2 : 1 }));
  };

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly keys: Keys,
    callerId: string,
    private readonly defaultTimeoutMs = 2_000,
  ) {
    this.channel = keys.elfReplies(callerId);
    subscriber.on('message', this.onMessage);
  }

  async call<T = unknown>(op: ElfOp, args: Record<string, unknown> = {}, options: { clientId?: string; timeoutMs?: number } = {}): Promise<T> {
    this.subscribed ??= this.subscriber.subscribe(this.channel);
    await this.subscribed;
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const request: ElfRequest = { id: randomUUID(), op, client_id: options.clientId ?? 'default', args, reply_to: this.channel, deadline: Date.now() + timeoutMs };
    const reply = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(request.id);
        reject(new DanError('elf_timeout', `ELF memory did not answer '${op}' within ${timeoutMs} ms (is the elf domain running?)`));
      }, timeoutMs);
      this.pending.set(request.id, { resolve: resolve as (value: unknown) => void, reject, timer });
    });
    // The reply can arrive (and reject) before LPUSH's own answer is read; the caller still gets the rejection.
    reply.catch(() => undefined);
    // At most 1,000 requests wait: with ELF down, the oldest (long given up on) are dropped, not piled up.
    await this.redis.multi().lpush(this.keys.elfRequests(), JSON.stringify(request)).ltrim(this.keys.elfRequests(), 0, 999).exec();
    return reply;
  }

  close(): void {
    this.subscriber.off('message', this.onMessage);
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.reject(new DanError('elf_closed', 'the ELF client was closed'));
      this.pending.delete(id);
    }
    if (this.subscribed) void this.subscriber.unsubscribe(this.channel).catch(() => undefined);
  }
}
