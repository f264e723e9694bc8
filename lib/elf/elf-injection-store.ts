import type { Clock } from '../clock.js';
import type { ElfDatabase } from './elf-database.js';
import type { ElfContextResult, Injection } from './elf-types.js';

interface InjectionRow {
  task_id: string;
  domain: string;
  worker: string;
  text: string;
  heuristic_ids: string;
  tokens: number;
  created_at: number;
}

/**
 * What each worker of a task was given: kept so a person can read it (`dan elf injections`) and so
 * the task's outcome credits exactly the heuristics it was shown, and claims reach no others.
 */
export class ElfInjectionStore {
  constructor(
    private readonly db: ElfDatabase,
    private readonly clock: Clock,
  ) {}

  /** Records one injection; the caller holds the transaction. */
  record(taskId: string, domain: string, worker: string, context: ElfContextResult): void {
    this.db.run(
      'INSERT INTO injections (task_id, domain, worker, text, heuristic_ids, tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [taskId, domain, worker, context.text, JSON.stringify(context.heuristicIds), context.tokens, this.clock.now()],
    );
  }

  /** A task's injections, oldest first. */
  forTask(taskId: string): Injection[] {
    return this.db.all<InjectionRow>('SELECT * FROM injections WHERE task_id = ? ORDER BY id', [taskId]).map((row) => ({
      taskId: row.task_id,
      domain: row.domain,
      worker: row.worker,
      text: row.text,
      heuristicIds: idList(row.heuristic_ids),
      tokens: row.tokens,
      createdAt: new Date(row.created_at).toISOString(),
    }));
  }

  /** Every heuristic id any worker of the task was shown, once each. */
  shownTo(taskId: string): number[] {
    const rows = this.db.all<{ heuristic_ids: string }>('SELECT heuristic_ids FROM injections WHERE task_id = ? ORDER BY id', [taskId]);
    return [...new Set(rows.flatMap((row) => idList(row.heuristic_ids)))];
  }
}

/** A JSON array of heuristic ids written by this store. */
function idList(json: string): number[] {
  const parsed: unknown = JSON.parse(json);
  return Array.isArray(parsed) ? parsed.filter((id): id is number => Number.isSafeInteger(id)) : [];
}
