import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { isoNow } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Keys } from '../redis/keys.js';
import type { LogOwner } from '../redis/task-store.js';
import { appendLogLines, formatLogLine } from '../redis/task-store.js';
import { scrubberNow } from '../scrub.js';

/**
 * Lines of a task's log held back to be written by the next script its agent runs for it anyway (a
 * sub-task's submit, the task's finish), instead of a round trip of their own each. A main
 * orchestrator writes three lines per routed task; as separate `RPUSH` and `XADD` commands they had been
 * a fifth of its CPU per task. The lines keep their order and the time they were held at.
 */
export interface HeldLogLines {
  /** Whose log the lines go to and who wrote them (the log stream's fields). */
  readonly owner: LogOwner;
  /** Keeps a line for the next script that writes this task's log; a plain `log` writes it first. */
  hold(message: string): void;
  /** The held lines, formatted as stored, for a script to write; give them back with `restore` if it did not. */
  take(): string[];
  /** Puts lines `take` returned back in front of any held since, when the script that was to write them did not. */
  restore(lines: readonly string[]): void;
}

/** One task's log as its agent writes it: lines at once (`log`) or held for a script (`HeldLogLines`). */
export class TaskLog implements HeldLogLines {
  /** Lines held, with the time each was held at; formatted and scrubbed together when taken. */
  private held: { at: string; message: string }[] = [];
  /** Lines taken and given back, formatted already. */
  private restored: string[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly owner: LogOwner,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Writes a line now, after every held one, in one round trip; a failed write is logged, never thrown. */
  readonly log = (message: string): Promise<void> => {
    this.hold(message);
    return this.flush();
  };

  hold(message: string): void {
    this.held.push({ at: isoNow(this.clock), message });
  }

  take(): string[] {
    if (this.held.length === 0 && this.restored.length === 0) return [];
    const scrub = scrubberNow();
    const lines = [...this.restored, ...this.held.map((h) => formatLogLine(this.owner.agentId, h.message, h.at, scrub))];
    this.held = [];
    this.restored = [];
    return lines;
  }

  restore(lines: readonly string[]): void {
    this.restored = [...lines, ...this.take()];
  }

  /** Writes the held lines now (the task ended on a path that does not carry them, or a line is logged). */
  async flush(): Promise<void> {
    const lines = this.take();
    await appendLogLines(this.redis, this.keys, this.owner, lines)
      .catch((error: Error) => this.logger.warn({ taskId: this.owner.taskId, err: error.message, lines: lines.length }, 'could not write a task log line'));
  }
}
