/** One task's end as the finish script takes it (lua/finish-4.lua), already scrubbed and formatted. */
export interface FinishEnd {
  taskId: string;
  token: string;
  status: 'completed' | 'failed';
  /** JSON text. */
  output: string;
  error: string;
  /** The last log line without its time ('' for none): the batch's time is put before it when it is sent. */
  logLine: string;
  costCheck: '' | 'own' | 'all';
  heldLines: readonly string[];
}

/**
 * Runs one finish script call for `ends` (one domain, at most MAX_FINISH_BATCH): each end's answer, in
 * order, or the error that end alone met.
 */
export type FinishRunner = (domain: string, ends: readonly FinishEnd[]) => Promise<(number | Error)[]>;

/**
 * Most ends in one script call: bounds the call's size and how long Redis runs it (a consumer of 16
 * slots ends up to 16 in a turn; more only from a larger one).
 */
export const MAX_FINISH_BATCH = 64;

interface Waiting {
  end: FinishEnd;
  resolve: (answer: number) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the ends a process has ready in the same turn of its event loop (with claim-ahead, a batch's
 * handlers end together) and sends them to Redis in one finish script call per domain: one EVALSHA, and
 * the counters every end adds to written once per batch. Each caller still gets its own answer (1, 0 or
 * 2, as the script returns it, or the error its end alone met). Nothing is lost if the process dies before a batch is written: each
 * task keeps its lease until then, and runs again once the lease lapses.
 */
export class FinishBatcher {
  private readonly waiting = new Map<string, Waiting[]>();
  private scheduled = false;

  constructor(private readonly run: FinishRunner) {}

  finish(domain: string, end: FinishEnd): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const list = this.waiting.get(domain);
      if (list) list.push({ end, resolve, reject });
      else this.waiting.set(domain, [{ end, resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.send());
      }
    });
  }

  private send(): void {
    this.scheduled = false;
    for (const [domain, list] of this.waiting) {
      for (let i = 0; i < list.length; i += MAX_FINISH_BATCH) this.sendBatch(domain, list.slice(i, i + MAX_FINISH_BATCH));
    }
    this.waiting.clear();
  }

  private sendBatch(domain: string, batch: Waiting[]): void {
    this.run(domain, batch.map((w) => w.end)).then(
      (answers) => batch.forEach((w, i) => {
        const answer = answers[i];
        if (answer instanceof Error) w.reject(answer);
        else w.resolve(Number(answer));
      }),
      (error: unknown) => batch.forEach((w) => w.reject(error)),
    );
  }
}
