import type { Clock } from '../clock.js';
import { InvalidInputError } from '../errors.js';
import type { ElfDatabase } from './elf-database.js';
import * as input from './elf-input.js';

/** A worker's word that a rule it was shown did not hold for its task. */
export interface ContradictionClaim {
  taskId: string;
  /** The heuristic's id, or its rule as the worker read it in its prompt (quotes and case do not matter). */
  id?: number;
  rule?: string;
  reason?: string;
  /** Who says so: `model:<task id>/<worker>`. */
  origin?: string;
}

/**
 * Contradictions that wait for an outcome. A model's word alone must not lower a rule a person
 * approved, so a claim only names the rule; when the task completes, its outcome confirms the claim
 * and the rule is contradicted instead of validated; when it fails, the claim is dropped.
 */
export class ElfClaimStore {
  constructor(
    private readonly db: ElfDatabase,
    private readonly clock: Clock,
  ) {}

  /**
   * Stores the claim against one of `shown` (the heuristics injected into the task); a rule the task
   * was not shown is refused, so a worker cannot reach rules beyond its own prompt. Returns the id.
   */
  claim(claim: ContradictionClaim, shown: readonly number[]): number {
    const task = input.taskId(claim.taskId);
    const reason = input.text(claim.reason, 'reason', { max: input.CONTEXT_MAX_CHARS });
    const origin = input.text(claim.origin, 'origin', { max: 300 });
    const id = claim.id !== undefined ? input.heuristicId(claim.id) : this.byRule(input.text(claim.rule, 'rule', { max: input.RULE_MAX_CHARS * 2, required: true }), shown);
    if (id === undefined || !shown.includes(id)) {
      const which = claim.id !== undefined ? `heuristic ${claim.id}` : `the rule ${JSON.stringify((claim.rule ?? '').slice(0, 80))}`;
      throw new InvalidInputError(`${which} was not shown to task ${task}: a task can contradict only the rules in its own memory block (see 'dan elf injections ${task}')`);
    }
    this.db.run(
      'INSERT INTO heuristic_claims (heuristic_id, task_id, reason, origin, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (heuristic_id, task_id) DO UPDATE SET reason = excluded.reason',
      [id, task, reason, origin, this.clock.now()],
    );
    return id;
  }

  /** Whether a worker of `taskId` said heuristic `id` did not hold. */
  claimed(id: number, taskId: string): boolean {
    return this.db.get('SELECT 1 FROM heuristic_claims WHERE heuristic_id = ? AND task_id = ?', [id, taskId]) !== undefined;
  }

  // The prompt shows a rule JSON-quoted: a worker may copy it with or without the quotes.
  private byRule(rule: string, shown: readonly number[]): number | undefined {
    const key = input.ruleKey(rule.replace(/^"+|"+$/g, ''));
    for (const id of shown) {
      const row = this.db.get<{ rule_key: string }>('SELECT rule_key FROM heuristics WHERE id = ?', [id]);
      if (row?.rule_key === key) return id;
    }
    return undefined;
  }
}
