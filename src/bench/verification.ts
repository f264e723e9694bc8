import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { getResult, submitTask } from '../../lib/redis/task-store.js';
import { round } from './bench-kit.js';
import type { BenchEnv, BenchNetwork } from './bench-network.js';
import { startBenchNetwork } from './bench-network.js';
import { describeTask, expectedOutcome, planTasks, SUM_CHECK, verificationRules, type PlannedTask } from './verification-plan.js';

// 3: the default of DAN_VERIFY_ROUNDS, the first try and two repairs.
const ROUNDS = 3;

/** What one task of a phase cost and how it ended, read from its result hash. */
interface TaskEnd {
  key: string;
  folder: string;
  status: string;
  code: string | undefined;
  rounds: number;
  /** Rounds after which a check failed. */
  failedCheckRounds: number;
  /** Rounds after which the reviewer requested changes. */
  reviewRequests: number;
  /** Reviews of the task (one per round whose checks passed). */
  reviews: number;
  checkMs: number;
  tokens: number;
}

export interface VerificationResult {
  seed: number;
  tasks: number;
  rounds_allowed: number;
  /**
   * The scripted worker's plan: tasks right at once, repaired after one or two failed rounds, never
   * right; and the tasks whose reviewer asks for a change once, and of those, the ones it asks in
   * their last round (they end `changes_requested`).
   */
  planned: { first_try: number; after_1: number; after_2: number; never: number; review_request: number; review_request_in_last_round: number };
  completed: number;
  /** Completed tasks whose check failed when the bench ran it again in their folder after the run: the goal is 0. */
  completed_with_failing_check: number;
  completed_first_try: number;
  /** Completed after at least one failed check or review request. */
  repaired: number;
  verification_failed: number;
  changes_requested: number;
  /** `verification_failed` tasks whose check passes when run again (should be 0): shows the re-run tells broken code from working. */
  failed_with_passing_check: number;
  /** Tasks that ended otherwise than the plan says (should be 0). */
  unexpected: number;
  /** Extra worker rounds by why they ran: a failed check, or a reviewer's request for changes. */
  repair_rounds: { checks: number; review: number };
  /** The reviewer's answers per task (one per round whose checks passed). */
  reviews_per_task: number;
  /** Model requests per task, the same tasks with checks and a reviewer and without either. */
  turns_per_task: { with_checks: number; without: number; extra: number };
  /** Tokens per task (input, output and cache), with checks and without. */
  tokens_per_task: { with_checks: number; without: number; extra: number };
  /** The checks' own time per task (every round's), from the results. */
  check_ms_per_task: number;
  /** From the first submit to the last task's end, with checks and without. */
  wall_ms: { with_checks: number; without: number };
}

/** Sends the planned tasks at once, each in its own folder, and waits until all have ended. */
async function runPhase(env: BenchEnv, net: BenchNetwork, plan: readonly PlannedTask[], phase: 'checked' | 'plain'): Promise<{ ends: TaskEnd[]; requests: number; wallMs: number }> {
  env.model.clearRequests();
  const ids = plan.map((t) => `${phase}-${t.key}`);
  const folders = plan.map((t) => path.join('verification', phase, t.key));
  for (const folder of folders) mkdirSync(path.join(env.workspace, folder), { recursive: true });
  const started = performance.now();
  await Promise.all(plan.map((t, i) => submitTask(env.redis, net.keys, {
    taskId: ids[i] as string, domain: 'backend', description: describeTask(t), context: { workspace: folders[i] },
    // Without checks: the same task with the domain's checks (none for backend) and no others.
    extraMetadata: phase === 'checked' ? { verify: [SUM_CHECK] } : { verify_mode: 'replace', verify: [] },
  })));
  await net.events.waitAll(ids, 120_000 + plan.length * 2_000);
  const wallMs = Math.max(...ids.map((id) => net.events.finished.get(id)?.ms ?? performance.now())) - started;
  const requests = env.model.requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages').length;
  const ends: TaskEnd[] = [];
  for (const [i, t] of plan.entries()) {
    const result = await getResult(env.redis, net.keys, ids[i] as string);
    const output = result?.output ?? {};
    const checks = Array.isArray(output['checks']) ? (output['checks'] as { ok?: boolean; round?: number; duration_ms?: number }[]) : [];
    const reviews = Array.isArray(output['reviews']) ? (output['reviews'] as { verdict?: string }[]) : [];
    const usage = (output['usage'] ?? {}) as Record<string, number | undefined>;
    const failure = output['failure'] as { code?: string } | undefined;
    ends.push({
      key: t.key, folder: path.join(env.workspace, folders[i] as string), status: result?.status ?? 'missing', code: failure?.code,
      rounds: Number(output['rounds'] ?? 1),
      failedCheckRounds: new Set(checks.filter((c) => c.ok === false).map((c) => c.round)).size,
      reviewRequests: reviews.filter((r) => r.verdict === 'request_changes').length,
      reviews: reviews.length,
      checkMs: checks.reduce((sum, c) => sum + (c.duration_ms ?? 0), 0),
      tokens: ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'].reduce((sum, k) => sum + (usage[k] ?? 0), 0),
    });
  }
  return { ends, requests, wallMs };
}

/**
 * Runs the check again in a completed task's folder, outside the network: the bench's own word on
 * whether the delivered code passes, not the task's result. The check and the code in the folder are
 * the bench's own (its scripted worker wrote it), so it runs without the sandbox.
 */
function passesNow(end: TaskEnd): boolean {
  return spawnSync('sh', ['-c', SUM_CHECK], { cwd: end.folder, stdio: 'ignore', timeout: 30_000 }).status === 0;
}

/** Runs one phase on a network of its own (the roles are the network's), and stops it. */
async function phaseOn(env: BenchEnv, plan: readonly PlannedTask[], phase: 'checked' | 'plain', roles: string): Promise<Phase> {
  // One worker per task and one domain agent, so the turns counted are the rounds' alone.
  const net = await startBenchNetwork(env, `verification-${phase}`, {
    DAN_WORKERS_PER_TASK: '1', DAN_VERIFY_ROUNDS: String(ROUNDS), DAN_DOMAIN_CONCURRENCY: '8', DAN_MAX_INSTANCES_PER_DOMAIN: '1', DAN_ROLES: roles,
  });
  try {
    return await runPhase(env, net, plan, phase);
  } finally {
    await net.stop();
  }
}

/**
 * The verification scenario (issue 15's goals): `tasks` tasks to `backend` whose scripted worker
 * writes a `sum.js` that fails the task's check for 0, 1 or 2 rounds, or for ever, and whose scripted
 * reviewer asks some of them for one change (a seeded plan), each in its own folder, with the default
 * 3 rounds. Then the same tasks without checks or a reviewer, for what verification costs. Every
 * completed task's check is run again afterwards.
 */
export async function measureVerification(env: BenchEnv, tasks: number, seed: number): Promise<VerificationResult> {
  const plan = planTasks(tasks, seed);
  env.model.setRules([...verificationRules(plan), ...defaultRules()]);
  try {
    env.progress(`verification: ${tasks} tasks without checks or a reviewer`);
    const plain = await phaseOn(env, plan, 'plain', 'coder,docs');
    env.progress(`verification: the same ${tasks} tasks with a check, the reviewer and up to ${ROUNDS} rounds`);
    const checked = await phaseOn(env, plan, 'checked', 'coder,docs,reviewer');
    return summarize(seed, plan, checked, plain);
  } finally {
    env.model.setRules(defaultRules());
  }
}

type Phase = Awaited<ReturnType<typeof runPhase>>;

function summarize(seed: number, plan: readonly PlannedTask[], checked: Phase, plain: Phase): VerificationResult {
  const tasks = plan.length;
  const ends = checked.ends;
  const completed = ends.filter((e) => e.status === 'completed');
  const unexpected = ends.filter((e, i) => {
    const wanted = expectedOutcome(plan[i] ?? { failures: 0, review: false }, ROUNDS);
    return e.status !== wanted.status || e.rounds !== wanted.rounds || e.code !== wanted.code;
  }).length + plain.ends.filter((e) => e.status !== 'completed').length;
  const perTask = (phase: Phase, value: (e: TaskEnd) => number) => phase.ends.reduce((sum, e) => sum + value(e), 0) / tasks;
  const turns = { with_checks: round(checked.requests / tasks, 2), without: round(plain.requests / tasks, 2), extra: 0 };
  turns.extra = round(turns.with_checks - turns.without, 2);
  const tokens = { with_checks: round(perTask(checked, (e) => e.tokens), 0), without: round(perTask(plain, (e) => e.tokens), 0), extra: 0 };
  tokens.extra = tokens.with_checks - tokens.without;
  const count = (f: PlannedTask['failures']) => plan.filter((t) => t.failures === f).length;
  const reviewed = plan.filter((t) => t.review);
  return {
    seed, tasks, rounds_allowed: ROUNDS,
    planned: {
      first_try: count(0), after_1: count(1), after_2: count(2), never: count('never'),
      review_request: reviewed.length, review_request_in_last_round: reviewed.filter((t) => expectedOutcome(t, ROUNDS).code === 'changes_requested').length,
    },
    completed: completed.length,
    completed_with_failing_check: completed.filter((e) => !passesNow(e)).length,
    completed_first_try: completed.filter((e) => e.rounds === 1).length,
    repaired: completed.filter((e) => e.rounds > 1).length,
    verification_failed: ends.filter((e) => e.code === 'verification_failed').length,
    changes_requested: ends.filter((e) => e.code === 'changes_requested').length,
    failed_with_passing_check: ends.filter((e) => e.code === 'verification_failed' && passesNow(e)).length,
    unexpected,
    // A round's failed check or review request is followed by a repair round, except in the last round.
    repair_rounds: {
      checks: ends.reduce((sum, e) => sum + Math.min(e.failedCheckRounds, e.rounds - 1), 0),
      review: ends.reduce((sum, e) => sum + Math.min(e.reviewRequests, e.rounds - 1 - Math.min(e.failedCheckRounds, e.rounds - 1)), 0),
    },
    reviews_per_task: round(perTask(checked, (e) => e.reviews), 2),
    turns_per_task: turns,
    tokens_per_task: tokens,
    check_ms_per_task: round(perTask(checked, (e) => e.checkMs)),
    wall_ms: { with_checks: round(checked.wallMs), without: round(plain.wallMs) },
  };
}
