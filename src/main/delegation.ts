import { budgetUsdSchema } from '../../lib/protocol/budget.js';
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../../lib/clock.js';
import type { Task } from '../../lib/protocol/task.js';
import { isValidTaskId, TASK_ID_RULE } from '../../lib/protocol/task.js';
import type { Keys } from '../../lib/redis/keys.js';
import { PlanStore } from '../../lib/redis/plan-store.js';
import type { ResultWatcher } from '../../lib/redis/result-watcher.js';
import type { TaskEnd } from '../../lib/redis/result-fields.js';
import { readResultStatus } from '../../lib/redis/result-fields.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TaskContext } from '../../lib/runtime/task-consumer.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import type { Plan, PlanStep } from './plan.js';

export interface DelegationDeps {
  redis: Redis;
  keys: Keys;
  watcher: ResultWatcher;
  clock: Clock;
  retentionMs: number;
}

/** How one sub-task ended, as the parent's output reports it. */
export interface ChildOutcome {
  task_id: string;
  domain: string;
  status: 'completed' | 'failed' | 'skipped';
  summary: string;
  error?: string;
  files_created: string[];
  files_modified: string[];
  output?: Record<string, unknown>;
}

/**
 * Sub-task ids are derived from the parent's, so a restarted main finds the sub-tasks it queued. A
 * parent id near the length limit would give a child id past it: the parent's id is then cut and a
 * hash of the whole added, so the child id still follows the rule and is still the same every time.
 */
export function childTaskId(parentId: string, domain: string): string {
  const plain = `${parentId}-${domain}`;
  if (isValidTaskId(plain)) return plain;
  const hash = createHash('sha1').update(plain).digest('hex').slice(0, 16);
  return `${parentId.slice(0, TASK_ID_RULE.maxLength - domain.length - hash.length - 2)}-${hash}-${domain}`;
}

/**
 * Reuses the plan stored for this task by an earlier attempt, or stores `make()`'s. A main
 * orchestrator that died mid-task thereby resumes the same sub-tasks instead of queueing new ones.
 * `mayExist` false (a first attempt of a task planned for no approval) skips the read, and the store
 * too: `unstored`, the plan goes with each of its sub-tasks' submits (`runPlan`), whose script stores it
 * unless another attempt's plan is there, which then stands (`PlanStoodError`); a round trip less.
 */
export async function storedPlan(deps: DelegationDeps, taskId: string, mayExist: boolean, make: () => Promise<Plan>): Promise<{ plan: Plan; resumed: boolean; unstored?: boolean }> {
  const plans = new PlanStore(deps.redis, deps.keys);
  const existing = mayExist ? await plans.read(taskId) : undefined;
  if (existing) return { plan: existing as Plan, resumed: true };
  if (!mayExist) return { plan: await make(), resumed: false, unstored: true };
  // Stored unless another attempt stored one meanwhile, which then stands.
  const stored = await plans.storeOnce(taskId, await make(), deps.retentionMs);
  return { plan: stored.plan as Plan, resumed: !stored.stored };
}

/** The parent's log line that says how it was planned. */
export function planLine(plan: Plan, resumed: boolean): string {
  const route = plan.steps.map((s) => `${s.domain}${s.dependsOn.length ? ` (after ${s.dependsOn.join(', ')})` : ''}`).join(', ');
  return `${resumed ? 'resumed plan' : 'routed'} (${plan.strategy}): ${route}; ${plan.reason}`;
}

/**
 * Runs a plan: queues each step as an ordinary task with `parent_id` once the steps it depends on
 * have completed (their summaries and files go into its context), waits for all, and aggregates.
 * Throws `TaskFailedError`, with the aggregate as output, when a sub-task failed. `unstored`: the
 * plan goes with each submit, to be stored by it (`storedPlan`).
 */
export async function runPlan(ctx: TaskContext, plan: Plan, deps: DelegationDeps, resumed = true, unstored = false): Promise<Record<string, unknown>> {
  const { task } = ctx;
  // Sub-tasks inherit this attempt's deadline: the parent's timeout bounds all of its work.
  const deadline = ctx.deadline;
  const outcomes = new Map<string, Promise<ChildOutcome>>();
  const budget = budgetUsdSchema.safeParse(task.metadata['budget_usd']);
  const ledger: BudgetLedger | undefined = budget.success ? { leftUsd: budget.data, unstarted: plan.steps.length } : undefined;
  const progress = { unsettled: plan.steps.length };
  const planJson = unstored ? JSON.stringify(plan) : undefined;
  for (const step of plan.steps) {
    // The task's own checks (`dan send main --verify`) are the whole task's: they go with the steps no
    // other step builds on, which run last and see the work of every step before them.
    const last = !plan.steps.some((other) => other.dependsOn.includes(step.domain));
    outcomes.set(step.domain, runStep(ctx, step, outcomes, { deps, deadline, resumed, progress, planJson }, last ? checksCarried(task) : {}, ledger));
  }
  const children = await Promise.all(outcomes.values());
  // Their results are read: the cost read at the end takes their totals from here.
  ctx.noteChildren?.(children.flatMap((c) => (c.output ? [c.output] : [])));
  const output = aggregate(task, plan, children);
  const failed = children.find((c) => c.status === 'failed');
  if (failed) {
    throw new TaskFailedError(`sub-task ${failed.task_id} (${failed.domain}) failed: ${failed.error ?? 'no reason given'}`, output, 'child_failed');
  }
  return output;
}

/** What every step of one plan shares: `progress.unsettled` counts the steps whose outcome is not known yet. */
interface StepRun {
  deps: DelegationDeps;
  deadline: number;
  resumed: boolean;
  progress: { unsettled: number };
  /** The plan, for each submit to store (`storedPlan`'s `unstored`). */
  planJson: string | undefined;
}

/**
 * One step: waits for the steps it depends on, queues its sub-task (unless a resumed plan already did),
 * and waits for it. A fresh plan's sub-tasks cannot exist yet, so their result is not read first.
 */
async function runStep(
  ctx: TaskContext, step: PlanStep, outcomes: Map<string, Promise<ChildOutcome>>, run: StepRun, checks: Record<string, unknown>, ledger?: BudgetLedger,
): Promise<ChildOutcome> {
  const { task } = ctx;
  const { deps, deadline, resumed } = run;
  const taskId = childTaskId(task.taskId, step.domain);
  const before = await Promise.all(step.dependsOn.map((d) => outcomes.get(d)).filter((p): p is Promise<ChildOutcome> => p !== undefined));
  const blocked = before.find((b) => b.status !== 'completed');
  if (blocked) {
    run.progress.unsettled -= 1;
    await ctx.log(`not starting ${step.domain}: it needs ${blocked.domain}, which ${blocked.status === 'failed' ? 'failed' : 'did not run'}`);
    return { task_id: taskId, domain: step.domain, status: 'skipped', summary: '', error: `not started: ${blocked.domain} did not complete`, files_created: [], files_modified: [] };
  }
  // Its share of what the parent's budget has left: an even split among the steps not yet started; what it leaves unspent goes back.
  const shareUsd = ledger ? Math.max(0.000001, Math.floor((ledger.leftUsd / Math.max(1, ledger.unstarted)) * 1e6) / 1e6) : undefined;
  if (ledger && shareUsd !== undefined) {
    ledger.leftUsd -= shareUsd;
    ledger.unstarted -= 1;
  }
  let waiting: Promise<TaskEnd> | undefined;
  if (!resumed || (await readResultStatus(deps.redis, deps.keys, taskId)) === undefined) {
    const remainingSeconds = Math.max(1, Math.floor((deadline - deps.clock.now()) / 1000));
    const context: Record<string, unknown> = { ...task.context, parent_task_id: task.taskId };
    if (before.length > 0) {
      const earlier = task.context['depends_on_results'];
      // Beside what the tasks it waited on (--after) did, which the routed task's context carries.
      context['depends_on_results'] = Object.assign(earlier !== null && typeof earlier === 'object' ? { ...earlier } : {}, Object.fromEntries(before.map((b) => [b.domain, {
        task_id: b.task_id, summary: b.summary, files_created: b.files_created, files_modified: b.files_modified,
      }])));
    }
    // Subscribed before it is queued, so its end cannot be missed and need not be read back.
    waiting = (await deps.watcher.watchNew(taskId, ctx.signal)).result;
    const delegated = `delegated to ${step.domain} as ${taskId}${before.length > 0 ? ` (after ${before.map((b) => b.domain).join(', ')})` : ''}: ${step.description}`;
    // The parent's lines held so far (the plan) and this one go with the submit, in its one step.
    ctx.held?.hold(delegated);
    const lines = ctx.held?.take() ?? [];
    await submitTask(deps.redis, deps.keys, {
      taskId,
      domain: step.domain,
      type: task.type,
      source: 'main-orchestrator',
      description: step.description,
      requirements: step.requirements,
      context,
      priority: task.priority,
      timeoutSeconds: Math.min(task.timeoutSeconds, remainingSeconds),
      parentId: task.taskId,
      extraPayload: task.type === 'echo' ? task.payload : undefined,
      extraMetadata: {
        deadline: new Date(deadline).toISOString(),
        // The client a task belongs to decides whose memory (ELF) its sub-tasks use.
        ...(typeof task.metadata['client_id'] === 'string' ? { client_id: task.metadata['client_id'] } : {}),
        ...checks,
        ...(shareUsd !== undefined ? { budget_usd: shareUsd } : {}),
      },
    }, deps.clock, {
      retentionMs: deps.retentionMs,
      ...(ctx.held ? { parentLog: { ...ctx.held.owner, lines } } : {}),
      ...(run.planJson !== undefined ? { parentPlan: { json: run.planJson, ttlMs: deps.retentionMs } } : {}),
    }).catch((error: unknown) => {
      // Refused (a full queue, say): nothing was written; the lines before this one still belong to the log.
      ctx.held?.restore(lines.slice(0, -1));
      throw error;
    });
    // Not awaited: the line goes out on the same connection, in order, ahead of what follows.
    if (!ctx.held) void ctx.log(delegated);
  } else {
    await ctx.log(`resuming: ${step.domain} sub-task ${taskId} already queued`);
  }
  const result = await (waiting ?? deps.watcher.wait(taskId, ctx.signal));
  run.progress.unsettled -= 1;
  const outcome = toOutcome(taskId, step.domain, result);
  if (ledger && shareUsd !== undefined) ledger.leftUsd += shareUsd - spentUsd(outcome.output);
  const ended = `${step.domain} ${outcome.status}${outcome.error ? `: ${outcome.error}` : ''}${outcome.files_created.length ? ` (created ${outcome.files_created.join(', ')})` : ''}`;
  // The last step to end: the parent's own end follows at once, and its finish writes the line.
  if (run.progress.unsettled === 0 && ctx.held) ctx.held.hold(ended);
  else void ctx.log(ended);
  return outcome;
}

/** The routed task's own checks (`metadata.verify`, `verify_mode`), as a sub-task's metadata carries them. */
function checksCarried(task: Task): Record<string, unknown> {
  const carried: Record<string, unknown> = {};
  if (task.metadata['verify'] !== undefined) carried['verify'] = task.metadata['verify'];
  if (task.metadata['verify_mode'] !== undefined) carried['verify_mode'] = task.metadata['verify_mode'];
  return carried;
}

/** What a sub-task's result says of its verification and delivery, for the parent's `children`. */
function verificationOf(output: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const field of ['rounds', 'checks', 'reviews', 'branch', 'base_commit', 'commit'] as const) {
    if (output[field] !== undefined) picked[field] = output[field];
  }
  return picked;
}

/** What a parent's budget has left to share, and among how many steps not yet started. */
interface BudgetLedger {
  leftUsd: number;
  unstarted: number;
}

/** The dollars a sub-task's result says it spent, its own sub-tasks' included (0 when it says nothing). */
function spentUsd(output: Record<string, unknown> | undefined): number {
  const total = output?.['cost_total'];
  const usd = typeof total === 'object' && total !== null ? (total as { usd?: unknown }).usd : undefined;
  return typeof usd === 'number' && Number.isFinite(usd) && usd >= 0 ? usd : 0;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function toOutcome(taskId: string, domain: string, result: TaskEnd): ChildOutcome {
  const output = result.output ?? {};
  return {
    task_id: taskId,
    domain,
    status: result.status === 'completed' ? 'completed' : 'failed',
    summary: typeof output['summary'] === 'string' ? output['summary'] : '',
    ...(result.error ? { error: result.error } : {}),
    files_created: strings(output['files_created']),
    files_modified: strings(output['files_modified']),
    output,
  };
}

function union(lists: string[][]): string[] {
  return [...new Set(lists.flat())].sort();
}

/** The parent's `output`: what each domain did, and every file any of them created or changed. */
export function aggregate(task: Task, plan: Plan, children: ChildOutcome[]): Record<string, unknown> {
  const created = union(children.map((c) => c.files_created));
  const createdSet = new Set(created);
  const modified = union(children.map((c) => c.files_modified)).filter((f) => !createdSet.has(f));
  const summary = children.map((c) => `${c.domain}: ${c.status === 'completed' ? c.summary || 'done' : `${c.status}${c.error ? ` (${c.error})` : ''}`}`).join('; ');
  const output: Record<string, unknown> = {
    summary,
    domains_used: children.map((c) => c.domain),
    files_created: created,
    files_modified: modified,
    plan: { strategy: plan.strategy, reason: plan.reason, steps: plan.steps.map((s) => ({ domain: s.domain, description: s.description, depends_on: s.dependsOn })) },
    children: Object.fromEntries(children.map((c) => [c.task_id, {
      domain: c.domain, status: c.status, summary: c.summary, ...(c.error ? { error: c.error } : {}),
      files_created: c.files_created, files_modified: c.files_modified,
      ...(c.output ? verificationOf(c.output) : {}),
    }])),
  };
  // The echo went through a domain and back; the parent answers with its own payload, as sent.
  if (task.type === 'echo') output['echo'] = task.payload;
  return output;
}
