import { Worker } from 'node:worker_threads';
import { ToolError } from './tool-error.js';

/**
 * The matching loop, run in a worker thread. A script string rather than a module file, so the same
 * code runs from `dist/` and from the TypeScript sources tests import. Flags never hold `g` or `y`, so
 * `test` keeps no state between lines.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const regex = new RegExp(workerData.pattern, workerData.flags);
parentPort.on('message', ({ text, keep }) => {
  const lines = text.split(/\\r?\\n/);
  const first = [];
  let count = 0;
  for (let i = 0; i < lines.length; i += 1) {
    if (!regex.test(lines[i])) continue;
    count += 1;
    if (first.length < keep) first.push(i);
  }
  parentPort.postMessage({ first, count });
});
`;

/** Lines of one text that matched: the indexes of the first `keep`, and how many matched in all. */
export interface LineMatches {
  first: number[];
  count: number;
}

export interface BoundedRegexOptions {
  /** How long one text may take to match before the pattern is given up as too slow. */
  timeLimitMs: number;
  signal?: AbortSignal;
}

// 256 MB: a 5 MB file split into lines fits many times over; a runaway pattern does not take the agent.
const WORKER_HEAP_MB = 256;

/**
 * A regular expression from the model, run off the agent's event loop. JavaScript's engine
 * backtracks, so a pattern like `^(a+)+$` over 40 `a`s and a `!` runs for hours; on the event loop
 * that stops the heartbeat and every other task. Here the worker thread is terminated after the time
 * limit and the model gets a tool error it can act on. One worker serves one Grep call.
 */
export class BoundedRegex {
  private readonly worker: Worker;
  private failure: Error | undefined;

  constructor(
    private readonly pattern: string,
    flags: string,
    private readonly options: BoundedRegexOptions,
  ) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { pattern, flags },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    this.worker.on('error', (error) => {
      this.failure = error;
    });
  }

  /** The matching lines of `text`; rejects with a `ToolError` when the pattern takes too long. */
  match(text: string, keep: number): Promise<LineMatches> {
    const { timeLimitMs, signal } = this.options;
    return new Promise<LineMatches>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.worker.off('message', onMessage);
        this.worker.off('error', onError);
      };
      const fail = (error: Error): void => {
        done();
        void this.worker.terminate();
        reject(error);
      };
      const onMessage = (result: LineMatches): void => {
        done();
        resolve(result);
      };
      const onError = (error: Error): void => fail(new ToolError(`the pattern could not be run: ${error.message}`, { cause: error }));
      const onAbort = (): void => fail(new ToolError('the search was aborted'));
      const timer = setTimeout(() => {
        fail(new ToolError(
          `pattern too slow: ${JSON.stringify(this.pattern.slice(0, 200))} ran over ${timeLimitMs / 1000} s on one file and was stopped; ` +
            'nested repetition such as (a+)+ backtracks without end: use a simpler pattern, or a narrower path or glob',
        ));
      }, timeLimitMs);
      if (this.failure) return onError(this.failure);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.worker.on('message', onMessage);
      this.worker.on('error', onError);
      this.worker.postMessage({ text, keep });
    });
  }

  /** Ends the worker thread; call when the search is over, whatever its outcome. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
