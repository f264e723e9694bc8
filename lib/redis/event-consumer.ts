import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { sleep, systemClock } from '../clock.js';
import { toFailure } from '../errors.js';
import type { Logger } from '../logger.js';

/** One entry of the events stream, as field -> value. */
export type StreamFields = Record<string, string>;

export interface EventConsumerOptions {
  /** Commands (ack, claim, group info). */
  redis: Redis;
  /** A dedicated connection for the blocking read; disconnected when the consumer stops. */
  blocking: Redis;
  stream: string;
  group: string;
  /** This consumer's name in the group: the agent id. */
  consumer: string;
  logger: Logger;
  clock?: Clock;
  /** How often to take over entries a dead consumer left unacknowledged, and how long they must have waited. */
  adoptEveryMs: number;
}

/** Consumers with nothing pending and silent this long are removed from the group: 1 hour. */
const FORGET_SILENT_MS = 3_600_000;
/** Entries one read takes at most. */
const READ_COUNT = 100;
type StreamEntries = [string, string[]][];

/**
 * Reads a stream through a consumer group, so entries added while the reader was down are read when it
 * returns and an entry is acknowledged only once handled: first what this consumer read and did not
 * acknowledge (a crash), then new entries; and every `adoptEveryMs`, what a consumer that died left.
 */
export class EventConsumer {
  private readonly clock: Clock;

  constructor(private readonly options: EventConsumerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** Creates the group if it does not exist, from the start of the stream (earlier entries are read too). */
  async ensureGroup(): Promise<void> {
    const { redis, stream, group } = this.options;
    try {
      await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }

  /** Hands each entry (its fields and stream id) to `handle` and acknowledges it, until `signal` aborts; a failed read is retried. */
  run(handle: (fields: StreamFields, id: string) => Promise<void>, signal: AbortSignal): Promise<void> {
    return this.loop((entries) => this.handleBatch(entries, handle), signal, 0);
  }

  /**
   * As `run`, with each read's entries handed over together (one script call for a batch rather than
   * one per entry), and after a read that did not fill a batch a pause of `gatherMs`, so a busy stream
   * is read in batches rather than an entry at a time: what a consumer that may lag by that much does.
   * A batch whose handling threw stays pending, to be read again.
   */
  runBatches(handle: (events: { id: string; fields: StreamFields }[]) => Promise<void>, signal: AbortSignal, gatherMs: number): Promise<void> {
    return this.loop(async (entries) => {
      // A deleted entry comes back without fields: nothing to learn from it, acknowledged all the same.
      await handle(entries.filter(([, fields]) => fields).map(([id, fields]) => ({ id, fields: fieldsOf(fields) })));
      if (entries.length > 0) await this.options.redis.xack(this.options.stream, this.options.group, ...entries.map(([id]) => id));
    }, signal, gatherMs);
  }

  private async loop(process: (entries: StreamEntries) => Promise<void>, signal: AbortSignal, gatherMs: number): Promise<void> {
    const { blocking, logger } = this.options;
    const onAbort = () => blocking.disconnect();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.ensureGroup();
      let cursor = '0';
      let lastAdopted = 0;
      while (!signal.aborted) {
        try {
          if (cursor === '>' && this.clock.now() - lastAdopted >= this.options.adoptEveryMs) {
            lastAdopted = this.clock.now();
            await this.adoptBatches(process, signal);
          }
          const entries = await this.read(cursor);
          if (cursor === '0' && entries.length === 0) {
            cursor = '>';
            continue;
          }
          await process(entries);
          if (gatherMs > 0 && entries.length > 0 && entries.length < READ_COUNT) await sleep(gatherMs, signal);
        } catch (error) {
          if (signal.aborted) break;
          logger.warn({ err: toFailure(error).message }, 'reading task events failed; retrying');
          await sleep(500, signal);
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async read(cursor: string): Promise<StreamEntries> {
    const { blocking, group, consumer, stream } = this.options;
    const batch = (cursor === '0'
      ? await blocking.xreadgroup('GROUP', group, consumer, 'COUNT', READ_COUNT, 'STREAMS', stream, cursor)
      : await blocking.xreadgroup('GROUP', group, consumer, 'COUNT', READ_COUNT, 'BLOCK', 1_000, 'STREAMS', stream, cursor)) as [string, StreamEntries][] | null;
    return batch?.[0]?.[1] ?? [];
  }

  /**
   * Handles a batch in order and acknowledges what was handled with one XACK (a command per entry had
   * been one per task end); an entry whose handling threw, and those after it, stay pending.
   */
  private async handleBatch(entries: StreamEntries, handle: (fields: StreamFields, id: string) => Promise<void>): Promise<void> {
    const handled: string[] = [];
    try {
      for (const [id, fields] of entries) {
        // A deleted entry comes back without fields: nothing to learn from it.
        if (fields) await handle(fieldsOf(fields), id);
        handled.push(id);
      }
    } finally {
      if (handled.length > 0) await this.options.redis.xack(this.options.stream, this.options.group, ...handled);
    }
  }

  /**
   * Takes over entries another consumer read and did not acknowledge for `adoptEveryMs` (it died), and
   * forgets consumers that have nothing pending and have been silent for an hour.
   */
  adoptAbandoned(handle: (fields: StreamFields, id: string) => Promise<void>, signal?: AbortSignal): Promise<void> {
    return this.adoptBatches((entries) => this.handleBatch(entries, handle), signal);
  }

  private async adoptBatches(process: (entries: StreamEntries) => Promise<void>, signal?: AbortSignal): Promise<void> {
    const { redis, stream, group, consumer } = this.options;
    let start = '0-0';
    do {
      const [next, claimed] = await redis.xautoclaim(stream, group, consumer, this.options.adoptEveryMs, start, 'COUNT', READ_COUNT) as [string, StreamEntries];
      await process(claimed);
      start = next;
    } while (start !== '0-0' && !signal?.aborted);
    const consumers = (await redis.xinfo('CONSUMERS', stream, group)) as unknown[][];
    for (const entry of consumers) {
      const info = fieldsOf(entry.map(String));
      if (info['name'] !== consumer && info['pending'] === '0' && Number(info['idle']) > FORGET_SILENT_MS) {
        await redis.xgroup('DELCONSUMER', stream, group, info['name']!);
      }
    }
  }
}

/** A flat [field, value, ...] reply as an object. */
export function fieldsOf(list: string[]): StreamFields {
  const fields: StreamFields = {};
  for (let i = 0; i + 1 < list.length; i += 2) fields[list[i]!] = list[i + 1]!;
  return fields;
}
