import type { Redis } from 'ioredis';
import { isTerminal } from '../protocol/result.js';
import type { Keys } from './keys.js';
import type { TaskEnd } from './result-fields.js';
import { readTaskEnd } from './result-fields.js';

interface Subscribing {
  sent: Promise<void>;
  confirmed: Promise<void>;
}

interface Waiter {
  resolve: (result: TaskEnd) => void;
  reject: (error: Error) => void;
}

/**
 * Waits for tasks to end. One subscriber connection serves every waiter: it subscribes to
 * `results:{id}` (published when a task ends), checks the hash right after subscribing so an ending
 * that happened first is not missed, and re-reads all waited tasks every `recheckMs` in case a
 * message was lost while the connection was down.
 *
 * A message only wakes the watcher: anyone who reaches Redis can PUBLISH on a task's channel, so the
 * result is always read from the task's hash, which only the queue's scripts end. Subscribes and unsubscribes made in the
 * same turn of the event loop go out as one command each: a busy main orchestrator waiting on many
 * sub-tasks pays one round trip per batch, not per task.
 */
export class ResultWatcher {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly timer: NodeJS.Timeout;
  private toSubscribe = new Set<string>();
  private subscribing: Subscribing | undefined;
  private toUnsubscribe = new Set<string>();
  private unsubscribeQueued = false;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly keys: Keys,
    recheckMs = 5_000,
  ) {
    subscriber.on('message', (channel: string, message: string) => {
      if (!channel.startsWith(this.keys.resultPrefix())) return;
      const taskId = channel.slice(this.keys.resultPrefix().length);
      if (!this.waiters.has(taskId) || !announcesEnd(message)) return;
      void this.check(taskId);
    });
    this.timer = setInterval(() => { for (const id of this.waiters.keys()) void this.check(id); }, recheckMs);
    this.timer.unref();
  }

  /** Resolves with the result once its status is `completed` or `failed`. */
  async wait(taskId: string, signal?: AbortSignal): Promise<TaskEnd> {
    const promise = this.register(taskId, signal);
    await this.subscribe(taskId).confirmed;
    await this.check(taskId);
    return promise;
  }

  /**
   * For a task the caller is about to queue (so it cannot have ended yet): resolves once the
   * SUBSCRIBE has been written to the subscriber connection, with the promise of the result, and
   * skips the read of the hash. The result is wrapped so awaiting this does not wait for the task.
   *
   * It does not wait for Redis to confirm the subscription: the caller's submit, written after it,
   * reaches Redis no earlier, and the task can only end after its agent's claim and finish, round
   * trips that start after the submit, so Redis has long handled the SUBSCRIBE by then. Waiting for
   * the confirmation was a round trip on every routed parent's path. Should the connection lose the
   * SUBSCRIBE, the re-read every `recheckMs` still finds the end.
   */
  async watchNew(taskId: string, signal?: AbortSignal): Promise<{ result: Promise<TaskEnd> }> {
    const result = this.register(taskId, signal);
    // A rejection (abort) is handled by whoever awaits the result; do not let it go unhandled meanwhile.
    result.catch(() => undefined);
    await this.subscribe(taskId).sent;
    return { result };
  }

  private register(taskId: string, signal?: AbortSignal): Promise<TaskEnd> {
    return new Promise<TaskEnd>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      set.add(waiter);
      signal?.addEventListener('abort', () => {
        set?.delete(waiter);
        if (set?.size === 0 && this.waiters.get(taskId) === set) {
          this.waiters.delete(taskId);
          this.unsubscribe(taskId);
        }
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      }, { once: true });
    });
  }

  /** Joins the next SUBSCRIBE: `sent` resolves once it is written, `confirmed` once Redis answered it. */
  private subscribe(taskId: string): Subscribing {
    const channel = this.keys.resultChannel(taskId);
    this.toUnsubscribe.delete(channel);
    this.toSubscribe.add(channel);
    if (!this.subscribing) {
      const sent = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        const channels = [...this.toSubscribe];
        this.toSubscribe = new Set();
        this.subscribing = undefined;
        // ioredis writes a subscriber connection's command to its socket as it is called.
        return { confirmed: this.subscriber.subscribe(...channels).then(() => undefined) };
      });
      // A failed SUBSCRIBE is reported to whoever awaits `confirmed`; the periodic re-read covers the rest.
      const confirmed = sent.then(async (s) => s.confirmed);
      confirmed.catch(() => undefined);
      this.subscribing = { sent: sent.then(() => undefined), confirmed };
    }
    return this.subscribing;
  }

  /** Joins the next UNSUBSCRIBE (nobody waits for its answer). */
  private unsubscribe(taskId: string): void {
    this.toUnsubscribe.add(this.keys.resultChannel(taskId));
    if (this.unsubscribeQueued) return;
    this.unsubscribeQueued = true;
    setImmediate(() => {
      this.unsubscribeQueued = false;
      const channels = [...this.toUnsubscribe];
      this.toUnsubscribe = new Set();
      if (channels.length > 0) void this.subscriber.unsubscribe(...channels).catch(() => undefined);
    });
  }

  private async check(taskId: string): Promise<void> {
    const result = await readTaskEnd(this.redis, this.keys, taskId).catch(() => undefined);
    if (result && isTerminal(result.status)) this.settle(taskId, result);
  }

  private settle(taskId: string, result: TaskEnd): void {
    const set = this.waiters.get(taskId);
    if (!set) return;
    this.waiters.delete(taskId);
    this.unsubscribe(taskId);
    for (const waiter of set) waiter.resolve(result);
  }

  close(): void {
    clearInterval(this.timer);
    for (const set of this.waiters.values()) for (const w of set) w.reject(new Error('result watcher closed'));
    this.waiters.clear();
  }
}

const TERMINAL_STATUS_FIELD = /"status"\s*:\s*"(?:completed|failed)"/;

/**
 * Whether a message on a result channel says the task ended (protocol.md: `{"status": ..., "output": ...}`);
 * other messages are ignored. Looked for in the text, not parsed: the message carries the whole output,
 * and it only wakes the watcher, which reads the hash, so a match anywhere else costs one read of it.
 */
function announcesEnd(message: string): boolean {
  return TERMINAL_STATUS_FIELD.test(message);
}
