/**
 * How the main orchestrator splits a task across domains. Both routers (keywords and model) return
 * this shape, so the code that queues sub-tasks does not care which one decided.
 */

/** What the main orchestrator routes: the description and requirements of the task it took. */
export interface RoutableTask {
  description: string;
  requirements?: readonly string[];
}

/** One sub-task: the part of the task a domain does. */
export interface PlanStep {
  domain: string;
  description: string;
  /** Domains of the same plan whose step must finish before this one starts. */
  dependsOn: string[];
  /** The task's requirements that concern this step (those that match no domain go to every step). */
  requirements: string[];
}

/**
 * `score`: decided by keyword matching. `llm`: decided by the model. `fallback`: no positive decision
 * was possible (the model's answer was unusable, or nothing matched) and the keyword router or the
 * fallback domain was used instead; `reason` says why.
 */
export type PlanStrategy = 'score' | 'llm' | 'fallback';

/** Steps in dependency order (a step comes after every step it depends on). */
export interface Plan {
  steps: PlanStep[];
  strategy: PlanStrategy;
  /** One line for logs and the task's progress log: what was decided and why. */
  reason: string;
  /** Keyword score of the whole task for every known domain, for logs and debugging. */
  scores: Record<string, number>;
}
