import type { Redis } from 'ioredis';
import type { TaskResult } from '../protocol/result.js';
import { isTerminal } from '../protocol/result.js';
import type { Keys } from './keys.js';
import { getResult } from './task-store.js';

interface Waiter {
  resolve: (result: TaskResult) => void;
  reject: (error: Error) => void;
}

/**
 * Waits for tasks to end. One subscriber connection serves every waiter: it subscribes to
 * `results:{id}` (published when a task ends), checks the hash right after subscribing so an ending
 * that happened first is not missed, and re-reads all waited tasks every `recheckMs` in case a
 * message was lost while the connection was down.
 */
export class ResultWatcher {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly keys: Keys,
    recheckMs = 5_000,
  ) {
    subscriber.on('message', (channel: string) => {
      const taskId = channel.slice(this.keys.resultPrefix().length);
      if (this.waiters.has(taskId)) void this.check(taskId);
    });
    this.timer = setInterval(() => { for (const id of this.waiters.keys()) void this.check(id); }, recheckMs);
    this.timer.unref();
  }

  /** Resolves with the result once its status is `completed` or `failed`. */
  async wait(taskId: string, signal?: AbortSignal): Promise<TaskResult> {
    const promise = new Promise<TaskResult>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      set.add(waiter);
      signal?.addEventListener('abort', () => {
        set?.delete(waiter);
        if (set?.size === 0 && this.waiters.get(taskId) === set) {
          this.waiters.delete(taskId);
          void this.subscriber.unsubscribe(this.keys.resultChannel(taskId)).catch(() => undefined);
        }
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      }, { once: true });
    });
    await this.subscriber.subscribe(this.keys.resultChannel(taskId));
    await this.check(taskId);
    return promise;
  }

  private async check(taskId: string): Promise<void> {
    const result = await getResult(this.redis, this.keys, taskId).catch(() => undefined);
    if (!result || !isTerminal(result.status)) return;
    const set = this.waiters.get(taskId);
    if (!set) return;
    this.waiters.delete(taskId);
    await this.subscriber.unsubscribe(this.keys.resultChannel(taskId)).catch(() => undefined);
    for (const waiter of set) waiter.resolve(result);
  }

  close(): void {
    clearInterval(this.timer);
    for (const set of this.waiters.values()) for (const w of set) w.reject(new Error('result watcher closed'));
    this.waiters.clear();
  }
}
