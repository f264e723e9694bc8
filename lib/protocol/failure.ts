import { LlmErrorCode } from '../llm/llm-error-code.js';

/**
 * Why a task ended `failed`: one typed list, so code that reacts to a failure (ELF, retries, the CLI's
 * exit codes, dashboards) branches on a code, never on the message. Every failed result carries
 * `output.failure = {code, retryable}` beside its `error` text. The Lua scripts write the codes of the
 * failures they decide (`invalid_task`, `queue_full`, `lease_expired`, `cancelled`); keep those strings
 * in step with this list (a unit test checks that every code a script writes is listed here).
 */
export const FailureCode = {
  // --- refused before any work: the input itself must change -------------------------------
  /** Not JSON, not an object, a bad task id, or a payload that does not fit the schema. */
  invalidTask: 'invalid_task',
  /** The domain's queue held DAN_MAX_QUEUE_DEPTH tasks already. */
  queueFull: 'queue_full',
  /** Neither a domain's folder nor main knows the domain. */
  unknownDomain: 'unknown_domain',
  /** Its `metadata.client_id` names a client DAN_CLIENTS does not list. */
  unknownClient: 'unknown_client',
  /** A domain's definition or the network's settings are wrong (a person must fix them). */
  badConfig: 'bad_config',
  /** A farm refused its request (missing path, problems command not found, nothing to fix). */
  farmRefused: 'farm_refused',

  // --- a person or a deadline stopped it ---------------------------------------------------
  cancelled: 'cancelled',
  /** Its own timeout or its parent's deadline passed. */
  timedOut: 'timed_out',
  /** It awaited approval (`metadata.approval`, or its domain's `approval: true`) and nobody decided within its window. */
  approvalTimeout: 'approval_timeout',
  /** It awaited approval and a person rejected it (`dan reject`, `POST /jobs/{id}/reject`); the reason is its error. */
  rejected: 'rejected',

  // --- the infrastructure failed: teaches nothing about the task ---------------------------
  /** The agent holding it stopped renewing its lease (killed, frozen, its host gone) too many times. */
  leaseExpired: 'lease_expired',
  /** A Claude Code worker process crashed. */
  workerCrashed: 'worker_crashed',
  /** The agent stopped while the task ran and could not hand it back. */
  aborted: 'aborted',

  // --- the work itself failed --------------------------------------------------------------
  /** A worker ended with an error or gave no usable answer. */
  workerFailed: 'worker_failed',
  /** A worker's final answer did not match the required shape. */
  invalidFinalAnswer: 'invalid_final_answer',
  /** The model declined the task. */
  modelRefused: 'model_refused',
  /** The model was still calling tools at DAN_MAX_TURNS. */
  maxTurns: 'max_turns',
  /** A task it waited on (`--after`, `metadata.depends_on`, a workflow step's `needs:`) failed or was cancelled; it never ran. */
  dependencyFailed: 'dependency_failed',
  /** A sub-task of a routed task failed (its own failure is in its result). */
  childFailed: 'child_failed',
  /** A farm ran and did not reach its goal. */
  farmFailed: 'farm_failed',
  /** A farm ran, but its problems command could not run on the result: nobody knows what is left; or a task's checks cannot run here (no sandbox). */
  verificationUnavailable: 'verification_unavailable',
  /** A check (`verify:` of the domain, `metadata.verify` of the task) still failed after the last worker round. */
  verificationFailed: 'verification_failed',
  /** The domain's reviewer still requested changes after the last worker round. */
  changesRequested: 'changes_requested',
  /** The domain's reviewer gave no usable answer (not JSON, or not `{"verdict", "comments"}`). */
  reviewInvalid: 'review_invalid',
  /**
   * A task's branch could not be merged into the workspace's current branch (a file changed on both,
   * or uncommitted changes in the way): the work is kept on its branch `dan/<task-id>`.
   */
  mergeConflict: 'merge_conflict',
  /** A task's branch could not be pushed to its remote (none of that name, refused): the branch is kept. */
  deliveryFailed: 'delivery_failed',
  /**
   * The model gateway refused a model call because a budget it would spend from is spent (the task's
   * `metadata.budget_usd`, shared with its sub-tasks, or its client's DAN_CLIENT_DAILY_BUDGET_USD);
   * `output.cost.budget_exceeded` says which, its limit and what was spent.
   */
  budgetExceeded: LlmErrorCode.budgetExceeded,
  /** A bug of ours: the message is all we know. */
  internal: 'internal',

  // --- the model API ------------------------------------------------------------------------
  ...prefixed(LlmErrorCode),
} as const;

/** One of the `FailureCode` values. */
export type FailureCode = (typeof FailureCode)[keyof typeof FailureCode];

/** What every failed result carries in `output.failure`. */
export interface FailureData {
  code: FailureCode;
  retryable: boolean;
}

const known = new Set<string>(Object.values(FailureCode));

/** Whether `code` is one of the listed failure codes. */
export function isFailureCode(code: unknown): code is FailureCode {
  return typeof code === 'string' && known.has(code);
}

/** A code from outside the list (an older agent, a raw client) reads as `internal`, never as itself. */
export function asFailureCode(code: unknown): FailureCode {
  return isFailureCode(code) ? code : FailureCode.internal;
}

/**
 * Failures that say nothing about how the task was done: a person's cancel, input refused before
 * any work, and failures of the infrastructure. ELF learns nothing from these.
 */
const NOT_ABOUT_THE_WORK: ReadonlySet<FailureCode> = new Set<FailureCode>([
  FailureCode.invalidTask, FailureCode.queueFull, FailureCode.unknownDomain, FailureCode.unknownClient, FailureCode.badConfig, FailureCode.farmRefused,
  // The check could not run: that says nothing about what the agents did.
  FailureCode.verificationUnavailable,
  // The reviewer's answer was unusable: that says nothing about the coders' work either.
  FailureCode.reviewInvalid,
  // The work was done and kept on its branch; what stopped its delivery was the repository, not the work.
  FailureCode.mergeConflict, FailureCode.deliveryFailed,
  // It never ran: the task it waited on is where the lesson is.
  FailureCode.dependencyFailed,
  FailureCode.cancelled, FailureCode.approvalTimeout, FailureCode.rejected, FailureCode.leaseExpired, FailureCode.workerCrashed, FailureCode.aborted,
  ...Object.values(LlmErrorCode),
]);

/** Whether a failure with this code is a lesson about the work (ELF learns from it). */
export function teachesAboutWork(code: FailureCode): boolean {
  return !NOT_ABOUT_THE_WORK.has(code);
}

/** A failed result's output: what the handler left, with the failure as data beside its `error` text. */
export function failedOutput(output: Record<string, unknown>, code: FailureCode, retryable = false): Record<string, unknown> {
  return { ...output, failure: { code, retryable } satisfies FailureData };
}

/** Reads `output.failure` of a result, if it has a well-formed one. */
export function readFailure(output: unknown): FailureData | undefined {
  if (typeof output !== 'object' || output === null) return undefined;
  const failure = (output as { failure?: unknown }).failure;
  if (typeof failure !== 'object' || failure === null) return undefined;
  const { code, retryable } = failure as { code?: unknown; retryable?: unknown };
  if (typeof code !== 'string') return undefined;
  return { code: asFailureCode(code), retryable: retryable === true };
}

function prefixed<T extends Record<string, string>>(codes: T): { [K in keyof T as `llm${Capitalize<string & K>}`]: T[K] } {
  return Object.fromEntries(Object.entries(codes).map(([k, v]) => [`llm${k[0]!.toUpperCase()}${k.slice(1)}`, v])) as never;
}
