import type { Clock } from '../clock.js';
import type { ElfDatabase } from './elf-database.js';
import { DOMAIN_ROWID_SPAN } from './elf-schema.js';
import * as input from './elf-input.js';
import type { Outcome, OutcomeHit, OutcomeInput } from './elf-types.js';

interface OutcomeRow {
  id: number;
  task_id: string;
  parent_id: string | null;
  domain: string;
  status: string;
  workers: string;
  duration_ms: number | null;
  files_created: string;
  files_modified: string;
  files_read: string;
  error: string;
  input_tokens: number | null;
  output_tokens: number | null;
  description: string;
  finished_at: number;
}

/** An outcome checked and normalised, ready to store. */
export type CheckedOutcome = Omit<Outcome, 'finishedAt'> & { finishedAtMs: number };

/** Task outcomes: one row per task id, searchable by description and error. */
export class ElfOutcomeStore {
  constructor(
    private readonly db: ElfDatabase,
    private readonly clock: Clock,
  ) {}

  check(raw: OutcomeInput): CheckedOutcome {
    const error = input.shortened(raw.error);
    return {
      taskId: input.taskId(raw.taskId),
      parentId: raw.parentId === undefined || raw.parentId === null || raw.parentId === '' ? null : input.taskId(raw.parentId, 'parentId'),
      domain: input.domain(raw.domain),
      status: input.status(raw.status),
      workers: input.stringList(raw.workers, 'workers', { maxItems: 100, maxChars: 100 }),
      durationMs: input.optionalNumber(raw.durationMs, 'durationMs'),
      filesCreated: input.stringList(raw.filesCreated, 'filesCreated'),
      filesModified: input.stringList(raw.filesModified, 'filesModified'),
      filesRead: input.stringList(raw.filesRead, 'filesRead'),
      error: error || null,
      inputTokens: input.optionalNumber(raw.inputTokens, 'inputTokens'),
      outputTokens: input.optionalNumber(raw.outputTokens, 'outputTokens'),
      description: input.shortened(raw.description),
      finishedAtMs: input.time(raw.finishedAt, 'finishedAt', this.clock.now()),
    };
  }

  /** Inserts unless the task id is already recorded; true when it was new. The caller holds the transaction. */
  insert(o: CheckedOutcome): boolean {
    const { changes, lastInsertRowid } = this.db.run(
      `INSERT INTO outcomes (task_id, parent_id, domain, status, workers, duration_ms, files_created, files_modified, files_read,
         error, input_tokens, output_tokens, description, finished_at, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO NOTHING`,
      [
        o.taskId, o.parentId, o.domain, o.status, JSON.stringify(o.workers), o.durationMs, JSON.stringify(o.filesCreated),
        JSON.stringify(o.filesModified), JSON.stringify(o.filesRead), o.error ?? '', o.inputTokens, o.outputTokens, o.description,
        o.finishedAtMs, this.clock.now(),
      ],
    );
    if (changes !== 1) return false;
    this.db.run('INSERT INTO outcomes_fts (rowid, description, error) VALUES (?, ?, ?)', [lastInsertRowid, o.description, o.error ?? '']);
    if (o.status === 'failed') {
      const base = this.ensureDomainNumber(o.domain) * DOMAIN_ROWID_SPAN;
      this.db.run('INSERT INTO failures_fts (rowid, description, error) VALUES (?, ?, ?)', [base + lastInsertRowid, o.description, o.error ?? '']);
    }
    return true;
  }

  get(taskId: string): Outcome | undefined {
    const row = this.db.get<OutcomeRow>('SELECT * FROM outcomes WHERE task_id = ?', [input.taskId(taskId)]);
    return row ? toOutcome(row) : undefined;
  }

  /** Full-text hits for an `ftsQuery` expression over every outcome, most relevant first. */
  search(match: string, options: { domain?: string | null; limit: number }): OutcomeHit[] {
    if (!match) return [];
    const rows = this.db.all<OutcomeRow & { score: number }>(
      `SELECT o.*, -outcomes_fts.rank AS score
       FROM outcomes_fts JOIN outcomes o ON o.id = outcomes_fts.rowid
       WHERE outcomes_fts MATCH @match AND (@domain IS NULL OR o.domain = @domain)
       ORDER BY score DESC, o.id DESC LIMIT @limit`,
      { match, domain: options.domain ?? null, limit: options.limit },
    );
    return rows.map(({ score, ...row }) => ({ outcome: toOutcome(row), score }));
  }

  /**
   * Failed outcomes of `domain` most like the `ftsQuery` expression, among its `window` most recent
   * failures: one rowid range of failures_fts, so ranking costs the same however long the history,
   * and old failures matter least.
   */
  similarFailures(match: string, options: { domain: string; limit: number; window: number }): OutcomeHit[] {
    const domainNo = match ? this.domainNumber(options.domain) : undefined;
    if (domainNo === undefined) return [];
    const oldest = this.db.get<{ id: number }>(
      "SELECT id FROM outcomes WHERE domain = ? AND status = 'failed' ORDER BY id DESC LIMIT 1 OFFSET ?",
      [options.domain, options.window - 1],
    );
    const base = domainNo * DOMAIN_ROWID_SPAN;
    const rows = this.db.all<OutcomeRow & { score: number }>(
      `SELECT o.*, -failures_fts.rank AS score
       FROM failures_fts JOIN outcomes o ON o.id = failures_fts.rowid - @base
       WHERE failures_fts MATCH @match AND failures_fts.rowid >= @from AND failures_fts.rowid < @to
       ORDER BY score DESC, o.id DESC LIMIT @limit`,
      { match, base, from: base + (oldest?.id ?? 0), to: base + DOMAIN_ROWID_SPAN, limit: options.limit },
    );
    return rows.map(({ score, ...row }) => ({ outcome: toOutcome(row), score }));
  }

  /** The number of `domain` in the `domains` table, if it has one. */
  private domainNumber(domain: string): number | undefined {
    return this.db.get<{ id: number }>('SELECT id FROM domains WHERE name = ?', [domain])?.id;
  }

  private ensureDomainNumber(domain: string): number {
    this.db.run('INSERT INTO domains (name) VALUES (?) ON CONFLICT (name) DO NOTHING', [domain]);
    return this.domainNumber(domain) ?? 0;
  }

  countsByStatus(): Record<string, number> {
    const rows = this.db.all<{ status: string; n: number }>('SELECT status, count(*) AS n FROM outcomes GROUP BY status ORDER BY status');
    return Object.fromEntries(rows.map((row) => [row.status, row.n]));
  }
}

function toOutcome(row: OutcomeRow): Outcome {
  return {
    taskId: row.task_id,
    parentId: row.parent_id,
    domain: row.domain,
    status: row.status,
    workers: list(row.workers),
    durationMs: row.duration_ms,
    filesCreated: list(row.files_created),
    filesModified: list(row.files_modified),
    filesRead: list(row.files_read),
    error: row.error || null,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    description: row.description,
    finishedAt: new Date(row.finished_at).toISOString(),
  };
}

/** A JSON array column written by this module. */
function list(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === 'string') : [];
}
