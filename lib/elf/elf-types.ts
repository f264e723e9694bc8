import type { UpdateKind } from './elf-confidence.js';

/** Public shapes of ELF memory. Times are ISO-8601 UTC strings; ids of heuristics are integers. */

export const HEURISTIC_SOURCES = ['model', 'person', 'postmortem'] as const;
export type HeuristicSource = (typeof HEURISTIC_SOURCES)[number];

/**
 * `candidate`: proposed by a model or a postmortem, kept and searchable by a person, never injected
 * into a prompt nor credited; `approved`: recorded or approved by a person (`dan elf approve`).
 */
export const HEURISTIC_STATES = ['candidate', 'approved'] as const;
export type HeuristicState = (typeof HEURISTIC_STATES)[number];

export const OUTCOME_STATUSES = ['completed', 'failed'] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

export interface HeuristicInput {
  domain: string;
  rule: string;
  context?: string;
  source: HeuristicSource;
  /** Who proposed it: `human`, `model:<task id>/<worker>`, `postmortem:<task id>`; the source alone when absent. */
  origin?: string;
  /** In [0, 1]; stored clamped to [0.05, 0.95]; 0.5 when absent. */
  confidence?: number;
}

export interface Heuristic {
  id: number;
  /** A domain name, or `*` for every domain. */
  domain: string;
  rule: string;
  context: string;
  source: HeuristicSource;
  origin: string;
  /** Only `approved` heuristics are injected into prompts and credited by outcomes. */
  state: HeuristicState;
  /** As of now: idle decay applied. */
  confidence: number;
  validations: number;
  violations: number;
  contradictions: number;
  golden: boolean;
  dormant: boolean;
  createdAt: string;
  lastUsedAt: string;
  lastUpdatedAt: string | null;
}

/**
 * Why an update changed nothing: the heuristic took its 5 updates today (UTC), this task already
 * credited it, it is a candidate, or (a model's contradiction) it waits for the task's outcome.
 */
export type UpdateRefusal = 'daily_limit' | 'already_credited' | 'candidate' | 'pending_outcome';

export interface HeuristicUpdateResult {
  applied: boolean;
  kind: UpdateKind;
  reason?: UpdateRefusal;
  /** One sentence for a person when not applied. */
  message?: string;
  /** The heuristic after the call (unchanged when not applied). */
  heuristic: Heuristic;
}

export interface OutcomeInput {
  taskId: string;
  parentId?: string | null;
  domain: string;
  status: OutcomeStatus;
  workers?: readonly string[];
  durationMs?: number | null;
  filesCreated?: readonly string[];
  filesModified?: readonly string[];
  /** Files the task read; they leave weaker trails than files it wrote. */
  filesRead?: readonly string[];
  error?: string | null;
  inputTokens?: number | null;
  outputTokens?: number | null;
  description?: string;
  /** ISO-8601 or epoch ms; now when absent. Trails are deposited at this time. */
  finishedAt?: string | number;
  /** The repository the task worked in (see `repositoryOf`); its trails are kept under it. '' when absent. */
  repository?: string;
}

export interface Outcome {
  taskId: string;
  parentId: string | null;
  domain: string;
  status: string;
  workers: string[];
  durationMs: number | null;
  filesCreated: string[];
  filesModified: string[];
  filesRead: string[];
  error: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  description: string;
  finishedAt: string;
}

export interface Hotspot {
  file: string;
  /** Sum of the file's deposits, each decayed by the trail half-life. */
  strength: number;
  deposits: number;
  /** Failed tasks that touched the file within the recent-failure window. */
  recentFailures: number;
  lastDepositAt: string;
}

export interface HeuristicHit {
  heuristic: Heuristic;
  /** bm25 relevance (higher is better) times confidence. */
  score: number;
}

export interface OutcomeHit {
  outcome: Outcome;
  /** bm25 relevance, higher is better. */
  score: number;
}

export interface SearchResult {
  heuristics: HeuristicHit[];
  outcomes: OutcomeHit[];
}

export interface ContextRequest {
  domain: string;
  task: string;
  files?: readonly string[];
  budgetTokens?: number;
  /** When given, the injection is recorded for this task and its heuristics marked used. */
  taskId?: string;
  worker?: string;
  /** The repository the task works in: only its trails (hot files) are shown. '' when absent. */
  repository?: string;
}

export interface ElfContextResult {
  text: string;
  heuristicIds: number[];
  tokens: number;
}

export interface Injection {
  taskId: string;
  domain: string;
  worker: string;
  text: string;
  heuristicIds: number[];
  tokens: number;
  createdAt: string;
}

export interface PlanInput {
  taskId?: string | null;
  domain: string;
  description: string;
  plan: string;
}

export interface PostmortemInput {
  taskId: string;
  domain: string;
  error: string;
  analysis: string;
  proposedRules?: readonly string[];
}

export interface ElfStats {
  outcomes: { total: number; byStatus: Record<string, number> };
  heuristics: number;
  golden: number;
  dormant: number;
  trails: number;
  injections: number;
  plans: number;
  postmortems: number;
  databaseBytes: number;
}

export interface ListHeuristicsOptions {
  /** Exactly this domain (`*` lists the rules for every domain). */
  domain?: string;
  includeDormant?: boolean;
  goldenOnly?: boolean;
  /** Only heuristics in this state. */
  state?: HeuristicState;
  limit?: number;
}
