import { DanError } from '../errors.js';
import type { FailureCode } from '../protocol/failure.js';
import type { Task } from '../protocol/task.js';
import type { ClaimedTask } from '../redis/task-queue.js';
import type { HeldLogLines } from './task-log.js';

/** What a handler gets for one task. `signal` fires on timeout, cancellation, lost lease and shutdown. */
export interface TaskContext {
  task: Task;
  claimed: ClaimedTask;
  signal: AbortSignal;
  /** When (ms since the epoch) this attempt times out: its own timeout or its parent's deadline. */
  deadline: number;
  log(message: string): Promise<void>;
  /**
   * Lines held for the next script that writes this task's log anyway (a sub-task's submit, this task's
   * finish), a round trip less each; `log` writes the held ones first, and what is still held when the
   * task ends on a path that carries none is written then.
   */
  held?: HeldLogLines;
  /**
   * The outputs of every sub-task this task queued, once the handler has read them all: the cost read at
   * the task's end then adds their `cost_total` from these instead of reading the sub-tasks again.
   */
  noteChildren?(outputs: readonly Record<string, unknown>[]): void;
}

export type TaskHandler = (ctx: TaskContext) => Promise<Record<string, unknown>>;

/** A handler failure that still carries an output (a parent with its children's statuses). */
export class TaskFailedError extends DanError {
  constructor(message: string, readonly output: Record<string, unknown>, code: FailureCode, options: { retryable?: boolean } = {}) {
    super(code, message, { retryable: options.retryable ?? false });
    this.name = 'TaskFailedError';
  }
}
