import type { Redis } from 'ioredis';
import { sleep } from '../../lib/clock.js';
import { ExitCode } from '../../lib/errors.js';
import { formatLogLine } from '../../lib/logger.js';
import type { ApprovalPlan } from '../../lib/protocol/approval.js';
import { FailureCode, readFailure } from '../../lib/protocol/failure.js';
import type { TaskResult } from '../../lib/protocol/result.js';
import { isTerminal } from '../../lib/protocol/result.js';
import type { StartFailure } from '../../lib/redis/domain-starts.js';
import type { Keys } from '../../lib/redis/keys.js';
import { getResult, readTaskLogs } from '../../lib/redis/task-store.js';
import { visibleText } from './visible-text.js';
import type { BranchFields } from '../../lib/workspace/task-branch.js';
import { readBranchFields } from '../../lib/workspace/task-branch.js';
import { childIds, startFailuresFor } from '../operations/task-children.js';
import { dim, statusColour } from './cli-context.js';
import type { CheckRun } from '../../lib/checks/check-runner.js';
import { checkEnding } from '../../lib/checks/task-checks.js';

/** What a person decides on for a task awaiting approval: its plan, its window, the commands. */
function describeApproval(result: TaskResult): string[] {
  const lines = [`  awaiting approval until ${result.raw['approval_until'] ?? '?'}: dan approve ${result.taskId}, or dan reject ${result.taskId} --reason TEXT`];
  try {
    const plan = JSON.parse(result.raw['approval_plan'] ?? '{}') as Partial<ApprovalPlan>;
    lines.push(`  plan: ${plan.domain ?? '?'}: ${visiblePlanText(plan.description ?? '')}`);
    for (const r of plan.requirements ?? []) lines.push(`    - ${visiblePlanText(r)}`);
    if (Array.isArray(plan.verify)) lines.push(`    checks: ${plan.verify.map((c) => visiblePlanText(String(c))).join('; ')}`);
    for (const step of plan.route ?? []) {
      lines.push(`    then ${step.domain}${step.after.length ? ` (after ${step.after.join(', ')})` : ''}: ${visiblePlanText(step.description)}`);
    }
  } catch {
    lines.push('  plan: (unreadable)');
  }
  return lines;
}

/** One line of plan text for a terminal: controls written out, newlines flattened, bounded. */
function visiblePlanText(text: string): string {
  const line = visibleText(text.replace(/\s*[\r\n]+\s*/g, ' '));
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/** A human rendering of a result hash: status, error, summary, files, and each sub-task or worker. */
export function describeResult(result: TaskResult): string {
  const lines = [`task ${result.taskId}: ${statusColour(result.status)}${result.domain ? ` (${result.domain})` : ''}`];
  if (result.error) lines.push(`  error: ${result.error}`);
  const out = result.output ?? {};
  const failure = result.status === 'failed' ? readFailure(out) : undefined;
  if (failure) lines.push(`  failure: ${failure.code}${failure.retryable ? ' (sending it again may pass)' : ''}`);
  if (typeof out['summary'] === 'string' && out['summary']) lines.push(`  summary: ${out['summary']}`);
  const list = (key: string) => (Array.isArray(out[key]) ? (out[key] as unknown[]).map(String) : []);
  if (list('domains_used').length) lines.push(`  domains: ${list('domains_used').join(', ')}`);
  if (list('workers_used').length) lines.push(`  workers: ${list('workers_used').join(', ')}`);
  for (const f of list('files_created')) lines.push(`  + ${f}`);
  for (const f of list('files_modified')) lines.push(`  ~ ${f}`);
  if (typeof out['cache_read_share'] === 'number') lines.push(`  prompt cache: ${Math.round(out['cache_read_share'] * 100)}% of input tokens read from the cache`);
  lines.push(...describeChecks(out['checks']));
  lines.push(...describeReviews(out['reviews']));
  const branch = readBranchFields(out);
  if (branch) lines.push(`  branch: ${branch.branch} at ${branch.commit.slice(0, 12)}, ${deliveryText(branch, out)} (dan diff ${result.taskId.slice(0, 8)})`);
  const children = out['children'];
  if (children && typeof children === 'object') {
    for (const [id, child] of Object.entries(children as Record<string, { domain?: string; status?: string; error?: string }>)) {
      lines.push(`  sub-task ${id} [${child.domain ?? '?'}]: ${statusColour(child.status ?? '?')}${child.error ? ` - ${child.error}` : ''}`);
    }
  }
  if (out['echo'] !== undefined) lines.push(`  echo: ${JSON.stringify(out['echo'])}`);
  const dependsOn = result.raw['depends_on'];
  // A workflow waits on all its steps: dan status draws them as a graph instead.
  if (dependsOn && result.domain !== 'workflow') {
    const ids = dependsOn.split(',');
    const shown = `${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ` and ${ids.length - 10} more` : ''}`;
    lines.push(`  ${result.status === 'waiting' ? 'waiting on' : 'waited on'}: ${shown}${result.raw['run_if'] === 'always' ? ' (runs even if they fail)' : ''}`);
  }
  if (result.status === 'awaiting_approval') lines.push(...describeApproval(result));
  if (result.status === 'pending' && result.raw['retry_at']) lines.push(`  waiting to retry: attempt ${(result.attempts ?? 1) + 1} is due at ${result.raw['retry_at']}`);
  const history = Array.isArray(out['attempt_history']) ? (out['attempt_history'] as { attempt?: number; agent?: string; reason?: string }[]) : [];
  for (const h of history) lines.push(`  attempt ${h.attempt ?? '?'} on ${h.agent ?? '?'}: ${h.reason ?? ''}`);
  const times = [result.startedAt && `started ${result.startedAt}`, result.completedAt && `ended ${result.completedAt}`, result.attempts && result.attempts > 1 ? `attempts ${result.attempts}` : undefined].filter(Boolean);
  if (times.length) lines.push(dim(`  ${times.join(', ')}`));
  return lines.join('\n');
}

/** One line per check that ran: how it ended, how long it took, in which round, and its command. */
export function describeChecks(checks: unknown): string[] {
  if (!Array.isArray(checks)) return [];
  return (checks as Partial<CheckRun>[]).map((c) => {
    const how = c.ok ? 'passed' : `FAILED, ${checkEnding({ exit_code: c.exit_code ?? null, ...(c.ended ? { ended: c.ended } : {}) })}`;
    return `  check ${how} (${((c.duration_ms ?? 0) / 1000).toFixed(1)} s, round ${c.round ?? '?'}): ${c.command ?? '?'}`;
  });
}

/** One line per review of a round (`role: reviewer`), then one per comment with its file and line. */
export function describeReviews(reviews: unknown): string[] {
  if (!Array.isArray(reviews)) return [];
  type Shown = { round?: number; verdict?: string; reviewer?: string; comments?: { file?: string; line?: number; text?: string }[] };
  return (reviews as Shown[]).flatMap((r) => [
    `  review (round ${r.round ?? '?'}, ${r.reviewer ?? 'reviewer'}): ${r.verdict === 'approve' ? 'approved' : 'changes requested'}`,
    ...(r.comments ?? []).map((c) => `    ${c.file ?? '?'}${c.line === undefined ? '' : `:${c.line}`}: ${c.text ?? ''}`),
  ]);
}

/** What became of a task's branch, in words. */
function deliveryText(branch: BranchFields, out: Record<string, unknown>): string {
  switch (branch.delivery) {
    case 'merged': return `merged into ${typeof out['merged_into'] === 'string' ? out['merged_into'] : 'the workspace branch'}`;
    case 'pushed': return `pushed to ${typeof out['remote'] === 'string' ? out['remote'] : 'the remote'}`;
    case 'branch': return 'left on its branch';
    case 'kept': return 'kept on its branch, not delivered';
    case 'unchanged': return 'no changes';
  }
}

/**
 * The exit code of a command that waited for a task to end: 0 completed; 4 when the network refused it
 * because the domain's queue was full (read from `output.failure.code`, never from the error text);
 * 1 for any other failure, or when it did not end in time.
 */
export function waitExitCode(result: TaskResult | undefined): number {
  if (result?.status === 'completed') return ExitCode.ok;
  if (result?.status === 'failed' && readFailure(result.output)?.code === FailureCode.queueFull) return ExitCode.queueFull;
  return ExitCode.failed;
}

export interface FollowOptions {
  /** Give up waiting after this long (ms); the result is then whatever the hash says. */
  timeoutMs: number;
  /** Called with each new log line of the task and (with `children`) of its sub-tasks. */
  onLine?: (line: string, taskId: string) => void;
  /** Called when the status changes. */
  onStatus?: (status: string) => void;
  /** Also follow the logs of sub-tasks this task spawns (their ids are `{id}-{domain}`). */
  children?: boolean;
  pollMs?: number;
  signal?: AbortSignal;
  /** Called once with each start failure of a domain the task waits for (`startFailuresFor`). */
  onStartFailure?: (failure: StartFailure) => void;
}

/**
 * Follows a task until it ends: prints new log lines (its own and its sub-tasks') as they arrive and
 * reports status changes. Polling keeps it simple and robust across Redis reconnects.
 */
export async function followTask(redis: Redis, keys: Keys, taskId: string, options: FollowOptions): Promise<TaskResult | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  const seen = new Map<string, number>();
  let status = '';
  let result: TaskResult | undefined;
  let nextFailureLook = 0;
  const told = new Set<string>();
  const readNew = async (id: string, into: { line: string; id: string }[]) => {
    const from = seen.get(id) ?? 0;
    const lines = await readTaskLogs(redis, keys, id, from);
    seen.set(id, from + lines.length);
    for (const line of lines) into.push({ line, id });
  };
  while (!options.signal?.aborted) {
    const fresh: { line: string; id: string }[] = [];
    try {
      result = await getResult(redis, keys, taskId);
      await readNew(taskId, fresh);
      if (options.children) {
        for (const childId of await childIds(redis, keys, taskId, result)) await readNew(childId, fresh);
      }
    } catch (error) {
      // Redis is away: keep waiting (the connection reconnects by itself) until the deadline, having
      // shown the lines read before it went.
      for (const { line, id } of fresh) options.onLine?.(line, id);
      if (Date.now() >= deadline) throw error;
      await sleep(500, options.signal);
      continue;
    }
    // Lines start with an ISO time, so a text sort interleaves the tasks' lines in time order.
    fresh.sort((a, b) => (a.line < b.line ? -1 : a.line > b.line ? 1 : 0));
    for (const { line, id } of fresh) options.onLine?.(line, id);
    if (result && result.status !== status) {
      status = result.status;
      options.onStatus?.(status);
    }
    if (result && isTerminal(result.status)) return result;
    if (options.onStartFailure && Date.now() >= nextFailureLook) {
      // 1 s: a domain is retried after a backoff of seconds, so a failure is never missed for long.
      nextFailureLook = Date.now() + 1_000;
      for (const failure of await startFailuresFor(redis, keys, taskId, result).catch(() => [])) {
        if (told.has(`${failure.domain}@${failure.at}`)) continue;
        told.add(`${failure.domain}@${failure.at}`);
        options.onStartFailure(failure);
      }
    }
    if (Date.now() >= deadline) return result;
    await sleep(options.pollMs ?? 200, options.signal);
  }
  return result;
}

export { childIds, childStatuses, startFailuresFor, type ChildStatus } from '../operations/task-children.js';

/** A start failure for a person: which domain, when and why, then the agent's last lines. */
export function describeStartFailure(failure: StartFailure, lines = 5): string {
  const shown = failure.lines.slice(-lines).map((line) => `    ${dim('| ')}${line.startsWith('{') ? formatLogLine(line, false) : line}`);
  return [`  domain ${failure.domain} cannot start: ${failure.reason} (agent ${failure.agentId}, ${failure.at})`, ...shown].join('\n');
}
