import path from 'node:path';
import { DanError } from '../errors.js';
import type { UpdateKind } from './elf-confidence.js';
import {
  failureItem, fitSections, goldenItem, heuristicItem, hotFileItem, SECTION_HEADERS, type ContextSection,
} from './elf-context.js';
import { ElfClaimStore, type ContradictionClaim } from './elf-claim-store.js';
import { ElfDatabase } from './elf-database.js';
import { ftsQuery } from './elf-fts.js';
import { ElfHeuristicStore } from './elf-heuristic-store.js';
import { ElfInjectionStore } from './elf-injection-store.js';
import * as input from './elf-input.js';
import { resolveElfMemoryOptions, type ElfMemoryOptions, type ResolvedElfMemoryOptions } from './elf-memory-options.js';
import { ElfOutcomeStore } from './elf-outcome-store.js';
import { normalizeRepository } from './elf-repository.js';
import { ElfTrailStore } from './elf-trail-store.js';
import type {
  ContextRequest, ElfContextResult, ElfStats, Heuristic, HeuristicInput, HeuristicUpdateResult, Hotspot, Injection,
  ListHeuristicsOptions, Outcome, OutcomeInput, OutcomeStatus, PlanInput, PostmortemInput, SearchResult,
} from './elf-types.js';

export { resolveElfMemoryOptions, type ElfMemoryOptions, type ResolvedElfMemoryOptions } from './elf-memory-options.js';

export const DEFAULT_CONTEXT_BUDGET_TOKENS = 1_500;
/** Candidates per section of a context; the budget usually ends the list first. */
export const CONTEXT_LIMITS = { golden: 20, heuristics: 10, failures: 3, hotFiles: 5 } as const;
/** A context's similar failures are looked for among the domain's 1,000 most recent ones. */
export const FAILURE_WINDOW = 1_000;
/** A file written leaves a full-strength trail; a file only read leaves half of one. */
export const TRAIL_STRENGTH = { written: 1, read: 0.5 } as const;

/**
 * The ELF memory of one client over one SQLite file: outcomes, heuristics under the one
 * confidence rule, pheromone trails, and the context injected into a worker's prompt. Pure
 * storage and rules: it does no I/O beyond its database, and its clock is injected.
 */
export class ElfMemory {
  readonly options: ResolvedElfMemoryOptions;
  private readonly heuristics: ElfHeuristicStore;
  private readonly outcomes: ElfOutcomeStore;
  private readonly trails: ElfTrailStore;
  private readonly claims: ElfClaimStore;
  private readonly injections: ElfInjectionStore;

  constructor(
    private readonly db: ElfDatabase,
    options: ElfMemoryOptions = {},
  ) {
    this.options = resolveElfMemoryOptions(options);
    const { clock } = this.options;
    this.heuristics = new ElfHeuristicStore(db, clock);
    this.outcomes = new ElfOutcomeStore(db, clock);
    this.trails = new ElfTrailStore(db, clock, this.options.trailHalfLifeMs, this.options.recentFailureMs);
    this.claims = new ElfClaimStore(db, clock);
    this.injections = new ElfInjectionStore(db, clock);
  }

  /** Opens (creating and migrating) the database at `file`; `elf_db_corrupt` if the file is damaged. */
  static open(file: string, options: ElfMemoryOptions = {}): ElfMemory {
    const resolved = resolveElfMemoryOptions(options);
    const db = ElfDatabase.open(file, { busyTimeoutMs: resolved.busyTimeoutMs });
    try {
      return new ElfMemory(db, resolved);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  get file(): string {
    return this.db.file;
  }

  /** Runs many calls as one transaction (bulk loads, catching up on missed events); a throw rolls back all of it. */
  batch<T>(fn: () => T): T {
    return this.db.transaction(fn);
  }

  /** Records a finished task once per task id (true when new) and deposits a trail for each file it touched. */
  recordOutcome(raw: OutcomeInput): boolean {
    const o = this.outcomes.check(raw);
    const repository = repositoryKey(raw.repository);
    return this.db.transaction(() => {
      if (!this.outcomes.insert(o)) return false;
      const written = new Set([...o.filesCreated, ...o.filesModified]);
      const read = o.filesRead.filter((file) => !written.has(file));
      const failed = o.status === 'failed';
      const deposit = { domain: o.domain, repository, taskId: o.taskId, outcome: o.status, failed, atMs: o.finishedAtMs };
      for (const file of written) this.trails.deposit({ ...deposit, file, strength: TRAIL_STRENGTH.written });
      for (const file of read) this.trails.deposit({ ...deposit, file, strength: TRAIL_STRENGTH.read });
      return true;
    });
  }

  getOutcome(taskId: string): Outcome | undefined {
    return this.outcomes.get(taskId);
  }

  /** Records a heuristic; a rule equal to one of the same domain (ignoring case and spacing) returns that one. */
  recordHeuristic(h: HeuristicInput): { heuristic: Heuristic; created: boolean } {
    return this.heuristics.record(h);
  }

  /** A person approves a candidate: it may now be injected into prompts and credited by outcomes. */
  approve(id: number): Heuristic {
    return this.heuristics.approve(id);
  }

  /** A person rejects a candidate: it is deleted. */
  reject(id: number): Heuristic {
    return this.heuristics.reject(id);
  }

  getHeuristic(id: number): Heuristic {
    return this.heuristics.get(id);
  }

  listHeuristics(options: ListHeuristicsOptions = {}): Heuristic[] {
    return this.heuristics.list(options);
  }

  validate(id: number, taskId?: string): HeuristicUpdateResult {
    return this.heuristics.update(id, 'validation', taskId);
  }

  violate(id: number, taskId?: string): HeuristicUpdateResult {
    return this.heuristics.update(id, 'violation', taskId);
  }

  contradict(id: number, taskId?: string): HeuristicUpdateResult {
    return this.heuristics.update(id, 'contradiction', taskId);
  }

  /**
   * A worker of a running task says a rule it was shown did not hold: stored until the task's outcome
   * decides (see `creditTask`). Refused for a rule the task was not shown. Returns the rule as of now.
   */
  claimContradiction(claim: ContradictionClaim): Heuristic {
    const task = input.taskId(claim.taskId);
    return this.db.transaction(() => this.heuristics.get(this.claims.claim(claim, this.injections.shownTo(task))));
  }

  /**
   * When a task ends: validates (completed) or violates (failed) the heuristics injected into its
   * prompts, each once per task. A rule a worker of the task said did not hold is contradicted
   * instead when the task completes: the outcome confirms the worker's word. Returns the ids whose
   * confidence changed.
   */
  creditTask(taskId: string, status: OutcomeStatus): number[] {
    const task = input.taskId(taskId);
    const completed = input.status(status) === 'completed';
    return this.db.transaction(() => {
      const credited: number[] = [];
      for (const id of this.injections.shownTo(task)) {
        const kind: UpdateKind = !completed ? 'violation' : this.claims.claimed(id, task) ? 'contradiction' : 'validation';
        try {
          if (this.heuristics.update(id, kind, task).applied) credited.push(id);
        } catch (error) {
          if (!(error instanceof DanError && error.code === 'not_found')) throw error;
        }
      }
      return credited;
    });
  }

  /** Hot files of a domain (all when absent) and, with `repository`, of that repository only. */
  hotspots(options: { domain?: string; repository?: string; limit?: number } = {}): Hotspot[] {
    const domain = options.domain === undefined ? null : input.domain(options.domain);
    const repository = options.repository === undefined ? null : repositoryKey(options.repository);
    return this.trails.hotspots({ domain, repository }, input.positiveInt(options.limit, 'limit', { fallback: 10, max: 1_000 }));
  }

  /** Golden rules of every domain, most confident first: what every context starts with. */
  goldenRules(limit: number = CONTEXT_LIMITS.golden): Heuristic[] {
    return this.heuristics.goldenRules(input.positiveInt(limit, 'limit', { fallback: CONTEXT_LIMITS.golden, max: 500 }));
  }

  /** Full-text search over heuristics (relevance × confidence) and outcomes (relevance); any text is safe. */
  search(text: string, options: { domain?: string; limit?: number; includeDormant?: boolean; includeCandidates?: boolean } = {}): SearchResult {
    const query = input.text(text, 'text', { max: 10_000 });
    const domain = options.domain === undefined ? null : input.domain(options.domain);
    const limit = input.positiveInt(options.limit, 'limit', { fallback: 10, max: 100 });
    const match = ftsQuery(query);
    return {
      heuristics: this.heuristics.search(match, { domain, limit, includeDormant: options.includeDormant ?? false, includeCandidates: options.includeCandidates ?? false }),
      outcomes: this.outcomes.search(match, { domain, limit }),
    };
  }

  /**
   * The memory to inject into a worker's prompt, within `budgetTokens` counted by `countTokens`:
   * golden rules, then relevant non-dormant approved heuristics with their confidence (candidates
   * never: see `ElfHeuristicStore.record`), then similar past
   * failures in the domain, then hot files of the task's repository (the named ones first). Golden
   * rules come from every domain. Domain `*` is a worker of no particular domain (`elf_query` without
   * one): lessons of every domain, no similar failures. With `taskId`, the injection is recorded and
   * its heuristics marked used.
   */
  buildContext(request: ContextRequest): ElfContextResult {
    const domain = input.domain(request.domain, 'domain', { allowAll: true });
    const repository = repositoryKey(request.repository);
    const task = input.text(request.task, 'task', { max: 100_000 });
    const files = input.stringList(request.files, 'files');
    const budget = input.positiveInt(request.budgetTokens, 'budgetTokens', { fallback: DEFAULT_CONTEXT_BUDGET_TOKENS, max: 200_000 });
    const taskId = request.taskId === undefined ? undefined : input.taskId(request.taskId);
    const worker = input.text(request.worker, 'worker', { max: 200 });
    const names = files.map((file) => path.basename(file).replace(/\.[^.]*$/, '')).join(' ');
    const match = ftsQuery(`${task} ${names}`);

    const golden = this.heuristics.goldenRules(CONTEXT_LIMITS.golden);
    const everyDomain = domain === input.ALL_DOMAINS;
    const relevant = this.heuristics.search(match, { domain: everyDomain ? null : domain, limit: CONTEXT_LIMITS.heuristics, excludeGolden: true });
    const failures = everyDomain ? [] : this.outcomes.similarFailures(match, { domain, limit: CONTEXT_LIMITS.failures, window: FAILURE_WINDOW });
    const sections: ContextSection[] = [
      { header: SECTION_HEADERS.golden, items: golden.map(goldenItem) },
      { header: SECTION_HEADERS.heuristics, items: relevant.map((hit) => heuristicItem(hit.heuristic)) },
      { header: SECTION_HEADERS.failures, items: failures.map((hit) => failureItem(hit.outcome)) },
      { header: SECTION_HEADERS.hotFiles, items: this.hotFiles(domain, repository, files).map(hotFileItem) },
    ];
    const fitted = fitSections(sections, budget);
    const result: ElfContextResult = { text: fitted.text, heuristicIds: fitted.heuristicIds, tokens: fitted.tokens };
    if (taskId !== undefined) {
      this.db.transaction(() => {
        this.injections.record(taskId, domain, worker, result);
        this.heuristics.markUsed(result.heuristicIds);
      });
    }
    return result;
  }

  /** What was injected for a task, oldest first. */
  injectionsFor(taskId: string): Injection[] {
    return this.injections.forTask(input.taskId(taskId));
  }

  recordPlan(plan: PlanInput): { id: number } {
    const taskId = plan.taskId === undefined || plan.taskId === null ? null : input.taskId(plan.taskId);
    const domain = input.domain(plan.domain);
    const description = input.text(plan.description, 'description', { max: 4_000, required: true });
    const text = input.text(plan.plan, 'plan', { max: 20_000, required: true });
    const { lastInsertRowid } = this.db.run(
      'INSERT INTO plans (task_id, domain, description, plan, created_at) VALUES (?, ?, ?, ?, ?)',
      [taskId, domain, description, text, this.options.clock.now()],
    );
    return { id: lastInsertRowid };
  }

  /** Records a postmortem and its proposed rules as candidate heuristics (source `postmortem`); all or nothing. */
  recordPostmortem(p: PostmortemInput): { id: number; heuristicIds: number[] } {
    const taskId = input.taskId(p.taskId);
    const domain = input.domain(p.domain);
    const error = input.shortened(p.error) || 'no error recorded';
    const analysis = input.text(p.analysis, 'analysis', { max: 20_000 });
    const rules = (p.proposedRules ?? []).map((rule, i) => input.text(rule, `proposedRules[${i}]`, { max: input.RULE_MAX_CHARS, required: true }));
    const context = input.shortened(`After task ${taskId} failed: ${error}`, input.CONTEXT_MAX_CHARS);
    return this.db.transaction(() => {
      const heuristicIds = rules.map((rule) => this.heuristics.record({ domain, rule, context, source: 'postmortem', origin: `postmortem:${taskId}` }).heuristic.id);
      const { lastInsertRowid } = this.db.run(
        'INSERT INTO postmortems (task_id, domain, error, analysis, heuristic_ids, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        [taskId, domain, error, analysis, JSON.stringify(heuristicIds), this.options.clock.now()],
      );
      return { id: lastInsertRowid, heuristicIds };
    });
  }

  stats(): ElfStats {
    const byStatus = this.outcomes.countsByStatus();
    const counts = this.heuristics.counts();
    const count = (table: 'injections' | 'plans' | 'postmortems') => this.db.get<{ n: number }>(`SELECT count(*) AS n FROM ${table}`)?.n ?? 0;
    return {
      outcomes: { total: Object.values(byStatus).reduce((sum, n) => sum + n, 0), byStatus },
      heuristics: counts.total,
      golden: counts.golden,
      dormant: counts.dormant,
      trails: this.trails.count(),
      injections: count('injections'),
      plans: count('plans'),
      postmortems: count('postmortems'),
      databaseBytes: this.db.sizeBytes(),
    };
  }

  close(): void {
    this.db.close();
  }

  /** The named files that are hot, then the domain's hottest, of this repository only, each at least `hotFileMinStrength`. */
  private hotFiles(domain: string, repository: string, files: readonly string[]): Hotspot[] {
    const min = this.options.hotFileMinStrength;
    const scope = { domain, repository };
    const named = this.trails.heatOf(scope, files).filter((h) => h.strength >= min);
    const seen = new Set(named.map((h) => h.file));
    const others = this.trails.hotspots(scope, CONTEXT_LIMITS.hotFiles).filter((h) => h.strength >= min && !seen.has(h.file));
    return [...named, ...others].slice(0, CONTEXT_LIMITS.hotFiles);
  }
}

/** A repository as given (see `repositoryOf`), checked and tidied; '' when absent. */
function repositoryKey(value: unknown): string {
  return normalizeRepository(input.text(value, 'repository', { max: 1_000 }));
}
