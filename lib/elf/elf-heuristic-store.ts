import type { Clock } from '../clock.js';
import { DanError, ExitCode, InvalidInputError } from '../errors.js';
import {
  applyUpdate, DAILY_UPDATE_LIMIT, decayedConfidence, DORMANT_BELOW, GOLDEN_EXIT_CONFIDENCE, isDormant, isGolden, utcDayStart, type UpdateKind,
} from './elf-confidence.js';
import type { ElfDatabase } from './elf-database.js';
import * as input from './elf-input.js';
import type { Heuristic, HeuristicHit, HeuristicInput, HeuristicSource, HeuristicState, HeuristicUpdateResult, ListHeuristicsOptions } from './elf-types.js';

interface HeuristicRow {
  id: number;
  domain: string;
  rule: string;
  context: string;
  source: HeuristicSource;
  origin: string;
  state: HeuristicState;
  confidence: number;
  validations: number;
  violations: number;
  contradictions: number;
  golden: number;
  created_at: number;
  last_used_at: number;
  last_updated_at: number | null;
}

// Confidence as of @now, through the same function the code uses.
const CURRENT = 'elf_confidence(h.confidence, h.last_used_at, @now)';
const CURRENT_GOLDEN = `(h.golden = 1 AND ${CURRENT} >= ${GOLDEN_EXIT_CONFIDENCE})`;

/** Heuristics and the confidence rule applied to them: recording, updates, listing, full-text ranking. */
export class ElfHeuristicStore {
  constructor(
    private readonly db: ElfDatabase,
    private readonly clock: Clock,
  ) {
    db.defineFunction('elf_confidence', (stored: number, lastUsedAt: number, now: number) => decayedConfidence(stored, lastUsedAt, now));
  }

  /**
   * Records a heuristic, or returns the one of the same domain whose rule differs only in case and
   * spacing. A person's rule is approved at once (and a person recording a candidate's rule approves
   * it); a model's or a postmortem's is a candidate, which no prompt sees until a person approves it.
   */
  record(raw: HeuristicInput): { heuristic: Heuristic; created: boolean } {
    const domain = input.domain(raw.domain, 'domain', { allowAll: true });
    const rule = input.text(raw.rule, 'rule', { max: input.RULE_MAX_CHARS, required: true });
    const context = input.text(raw.context, 'context', { max: input.CONTEXT_MAX_CHARS });
    const source = input.source(raw.source);
    const confidence = input.confidence(raw.confidence);
    const origin = input.text(raw.origin, 'origin', { max: 300 }) || (source === 'person' ? 'human' : source);
    const state: HeuristicState = source === 'person' ? 'approved' : 'candidate';
    const now = this.clock.now();
    const key = input.ruleKey(rule);
    return this.db.transaction(() => {
      const existing = this.db.get<{ id: number }>('SELECT id FROM heuristics WHERE domain = ? AND rule_key = ?', [domain, key]);
      if (existing) {
        if (state === 'approved') this.db.run("UPDATE heuristics SET state = 'approved' WHERE id = ?", [existing.id]);
        return { heuristic: this.get(existing.id), created: false };
      }
      const { lastInsertRowid } = this.db.run(
        `INSERT INTO heuristics (domain, rule, rule_key, context, source, origin, state, confidence, created_at, last_used_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [domain, rule, key, context, source, origin, state, confidence, now, now],
      );
      this.db.run('INSERT INTO heuristics_fts (rowid, rule, context) VALUES (?, ?, ?)', [lastInsertRowid, rule, context]);
      return { heuristic: this.get(lastInsertRowid), created: true };
    });
  }

  /** A person's approval of a candidate: from now on it may be injected and credited. */
  approve(id: number): Heuristic {
    this.row(id);
    this.db.run("UPDATE heuristics SET state = 'approved' WHERE id = ?", [id]);
    return this.get(id);
  }

  /** A person's refusal of a candidate: it is deleted (an approved rule is kept; violate it instead). */
  reject(id: number): Heuristic {
    const heuristic = this.get(id);
    if (heuristic.state !== 'candidate') {
      throw new InvalidInputError(`heuristic ${id} is approved, not a candidate: lower it with 'dan elf violate ${id}'`);
    }
    this.db.run('DELETE FROM heuristics WHERE id = ?', [id]);
    return heuristic;
  }

  /** The heuristic as of now; an unknown id is a `not_found` error. */
  get(id: number): Heuristic {
    return toHeuristic(this.row(id), this.clock.now());
  }

  /**
   * Applies one validation, violation or contradiction to the decayed confidence and persists it.
   * Not applied (reported, not thrown) when the heuristic already took 5 updates this UTC day, or
   * when `taskId` already credited it; a refused credit is not recorded, so a later replay of the
   * same task may still apply it once.
   */
  update(id: number, kind: UpdateKind, taskId?: string): HeuristicUpdateResult {
    const task = taskId === undefined ? undefined : input.taskId(taskId);
    return this.db.transaction(() => {
      const row = this.row(id);
      const now = this.clock.now();
      // A candidate's confidence cannot be raised by the tasks of whoever proposed it.
      if (row.state !== 'approved') {
        return refused(kind, 'candidate', `heuristic ${id} is a candidate: a person approves it first with 'dan elf approve ${id}'`, toHeuristic(row, now));
      }
      if (task !== undefined && this.db.get('SELECT 1 FROM heuristic_credits WHERE heuristic_id = ? AND task_id = ?', [id, task])) {
        return refused(kind, 'already_credited', `task ${task} already credited heuristic ${id}`, toHeuristic(row, now));
      }
      const today = this.db.get<{ n: number }>('SELECT count(*) AS n FROM heuristic_updates WHERE heuristic_id = ? AND at >= ?', [id, utcDayStart(now)]);
      if ((today?.n ?? 0) >= DAILY_UPDATE_LIMIT) {
        return refused(kind, 'daily_limit', `heuristic ${id} already took ${DAILY_UPDATE_LIMIT} updates today (UTC); try again tomorrow`, toHeuristic(row, now));
      }
      const before = decayedConfidence(row.confidence, row.last_used_at, now);
      const after = applyUpdate(before, kind);
      const counts = {
        validations: row.validations + (kind === 'validation' ? 1 : 0),
        violations: row.violations + (kind === 'violation' ? 1 : 0),
        contradictions: row.contradictions + (kind === 'contradiction' ? 1 : 0),
      };
      const golden = isGolden({ golden: row.golden === 1, confidence: after, ...counts });
      this.db.run(
        `UPDATE heuristics SET confidence = ?, validations = ?, violations = ?, contradictions = ?, golden = ?, last_used_at = ?, last_updated_at = ?
         WHERE id = ?`,
        [after, counts.validations, counts.violations, counts.contradictions, golden ? 1 : 0, now, now, id],
      );
      this.db.run(
        'INSERT INTO heuristic_updates (heuristic_id, kind, task_id, confidence_before, confidence_after, at) VALUES (?, ?, ?, ?, ?, ?)',
        [id, kind, task ?? null, before, after, now],
      );
      if (task !== undefined) this.db.run('INSERT INTO heuristic_credits (heuristic_id, task_id, kind, at) VALUES (?, ?, ?, ?)', [id, task, kind, now]);
      return { applied: true, kind, heuristic: this.get(id) };
    });
  }

  /** Marks heuristics injected now: decay so far is persisted and the idle clock restarts. */
  markUsed(ids: readonly number[]): void {
    const now = this.clock.now();
    for (const id of ids) {
      const row = this.db.get<HeuristicRow>('SELECT * FROM heuristics WHERE id = ?', [id]);
      if (!row) continue;
      const current = toHeuristic(row, now);
      this.db.run('UPDATE heuristics SET confidence = ?, golden = ?, last_used_at = ? WHERE id = ?', [current.confidence, current.golden ? 1 : 0, now, id]);
    }
  }

  /** Most confident first; dormant ones only with `includeDormant`; candidates and approved ones unless `state` says. */
  list(options: ListHeuristicsOptions = {}): Heuristic[] {
    const domain = options.domain === undefined ? null : input.domain(options.domain, 'domain', { allowAll: true });
    const limit = input.positiveInt(options.limit, 'limit', { fallback: 100, max: 10_000 });
    const now = this.clock.now();
    const rows = this.db.all<HeuristicRow>(
      `SELECT h.* FROM heuristics h
       WHERE (@domain IS NULL OR h.domain = @domain)
         AND (@dormant = 1 OR ${CURRENT} >= ${DORMANT_BELOW})
         AND (@golden = 0 OR ${CURRENT_GOLDEN})
         AND (@state IS NULL OR h.state = @state)
       ORDER BY ${CURRENT} DESC, h.id LIMIT @limit`,
      { domain, dormant: options.includeDormant ? 1 : 0, golden: options.goldenOnly ? 1 : 0, state: options.state ?? null, limit, now },
    );
    return rows.map((row) => toHeuristic(row, now));
  }

  /**
   * Golden, non-dormant, approved heuristics of every domain, most confident first: a rule that
   * earned golden reaches every future agent, as the memory promises, not only its own domain's.
   */
  goldenRules(limit: number): Heuristic[] {
    const now = this.clock.now();
    return this.db
      .all<HeuristicRow>(
        `SELECT h.* FROM heuristics h WHERE h.golden = 1 AND h.state = 'approved' AND ${CURRENT_GOLDEN}
         ORDER BY ${CURRENT} DESC, h.validations DESC, h.id LIMIT @limit`,
        { limit, now },
      )
      .map((row) => toHeuristic(row, now));
  }

  /**
   * Full-text hits for an `ftsQuery` expression, best first by bm25 relevance times confidence,
   * computed in SQL so only `limit` rows leave SQLite. `domain` includes the `*` rules. Sorting on
   * the product (not on FTS5's `rank`) also keeps FTS5 from sorting every match itself, which was
   * three times slower. Candidates only with `includeCandidates`.
   */
  search(match: string, options: { domain?: string | null; limit: number; includeDormant?: boolean; excludeGolden?: boolean; includeCandidates?: boolean }): HeuristicHit[] {
    if (!match) return [];
    const now = this.clock.now();
    const rows = this.db.all<HeuristicRow & { score: number }>(
      `SELECT h.*, -heuristics_fts.rank * ${CURRENT} AS score
       FROM heuristics_fts JOIN heuristics h ON h.id = heuristics_fts.rowid
       WHERE heuristics_fts MATCH @match
         AND (@domain IS NULL OR h.domain IN (@domain, '*'))
         AND (@dormant = 1 OR ${CURRENT} >= ${DORMANT_BELOW})
         AND (@noGolden = 0 OR NOT ${CURRENT_GOLDEN})
         AND (@candidates = 1 OR h.state = 'approved')
       ORDER BY score DESC, h.id LIMIT @limit`,
      {
        match, domain: options.domain ?? null, dormant: options.includeDormant ? 1 : 0, noGolden: options.excludeGolden ? 1 : 0,
        candidates: options.includeCandidates ? 1 : 0, limit: options.limit, now,
      },
    );
    return rows.map(({ score, ...row }) => ({ heuristic: toHeuristic(row, now), score }));
  }

  counts(): { total: number; golden: number; dormant: number } {
    const row = this.db.get<{ total: number; golden: number | null; dormant: number | null }>(
      `SELECT count(*) AS total, sum(${CURRENT_GOLDEN}) AS golden, sum(${CURRENT} < ${DORMANT_BELOW}) AS dormant FROM heuristics h`,
      { now: this.clock.now() },
    );
    return { total: row?.total ?? 0, golden: row?.golden ?? 0, dormant: row?.dormant ?? 0 };
  }

  private row(id: number): HeuristicRow {
    const checked = input.heuristicId(id);
    const row = this.db.get<HeuristicRow>('SELECT * FROM heuristics WHERE id = ?', [checked]);
    if (!row) throw new DanError('not_found', `no heuristic with id ${checked}: list them with 'dan elf heuristics'`, { exitCode: ExitCode.usage });
    return row;
  }
}

function toHeuristic(row: HeuristicRow, now: number): Heuristic {
  const confidence = decayedConfidence(row.confidence, row.last_used_at, now);
  return {
    id: row.id,
    domain: row.domain,
    rule: row.rule,
    context: row.context,
    source: row.source,
    origin: row.origin,
    state: row.state,
    confidence,
    validations: row.validations,
    violations: row.violations,
    contradictions: row.contradictions,
    // Only an update promotes; reading can only demote (decay lowers confidence).
    golden: row.golden === 1 && isGolden({ golden: true, confidence, validations: row.validations, violations: row.violations }),
    dormant: isDormant(confidence),
    createdAt: new Date(row.created_at).toISOString(),
    lastUsedAt: new Date(row.last_used_at).toISOString(),
    lastUpdatedAt: row.last_updated_at === null ? null : new Date(row.last_updated_at).toISOString(),
  };
}

function refused(kind: UpdateKind, reason: HeuristicUpdateResult['reason'], message: string, heuristic: Heuristic): HeuristicUpdateResult {
  return { applied: false, kind, reason, message, heuristic };
}
