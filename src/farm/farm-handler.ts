import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { DomainDefinition } from '../../lib/agents/agent-definitions.js';
import type { Config } from '../../lib/config.js';
import { packageRoot, resolveModel } from '../../lib/config.js';
import { sleep } from '../../lib/clock.js';
import type { Chunk } from '../../lib/farm/chunks.js';
import { chunkProblems } from '../../lib/farm/chunks.js';
import { addWorktree, git, headCommit, mergeBranches, removeWorktree, repositoryRoot } from '../../lib/farm/farm-git.js';
import type { FarmRequest, FarmRuntime } from '../../lib/farm/farm-request.js';
import { farmPathOutsideRoots, parseFarmRequest, programExists } from '../../lib/farm/farm-request.js';
import { FarmStore } from '../../lib/farm/farm-store.js';
import type { Problem } from '../../lib/farm/problems.js';
import { parseProblems } from '../../lib/farm/problems.js';
import { outputTail, runProblemsCommand, unknownCountReason } from '../../lib/farm/problems-command.js';
import { linkDependencies } from '../../lib/farm/dependency-folders.js';
import { attributedLlmClient, type LlmClient } from '../../lib/llm/llm-client.js';
import type { Logger } from '../../lib/logger.js';
import { FailureCode } from '../../lib/protocol/failure.js';
import { readTaskCost } from '../../lib/redis/cost-counters.js';
import type { Keys } from '../../lib/redis/keys.js';
import { commandSandbox } from '../../lib/sandbox/resolve-sandbox.js';
import { RefusingSandbox } from '../../lib/sandbox/unsandboxed-runner.js';
import type { TaskContext, TaskHandler } from '../../lib/runtime/task-consumer.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import type { WorkerLifecycle } from '../domain/domain-handler.js';
import type { DomainMemory } from '../domain/domain-memory.js';
import { findClaude } from '../worker/claude-code-worker-runtime.js';
import type { WorkerRuntime } from '../worker/worker-runtime.js';
import { farmEditGuard } from './edit-guard.js';
import type { AgentReport } from './farm-agent.js';
import { FarmAgent } from './farm-agent.js';
import { splitTask } from './task-splitter.js';
import { clientWorkspaceRoot } from '../../lib/workspace/task-workspace.js';

export interface FarmHandlerDeps {
  config: Config;
  domain: DomainDefinition;
  /** The farm domain orchestrator's id; the farm's agents are registered as its workers. */
  agentId: string;
  redis: Redis;
  keys: Keys;
  runtime: (kind: FarmRuntime) => Promise<WorkerRuntime>;
  llm: () => Promise<LlmClient>;
  lifecycle: WorkerLifecycle;
  memory?: DomainMemory;
  logger: Logger;
}

// A chunk handed back by this many agents is given up: two agents failing on it is not bad luck.
const MAX_CHUNK_ATTEMPTS = 2;
// How often the farm looks for `dan farm stop`.
const STOP_POLL_MS = 500;

/**
 * The farm domain's work on one task: check the request and the machine (refusing with reason and
 * fix before any agent starts), find the problems, queue them in chunks, run the agents each in
 * its own worktree, merge their branches into one result branch, re-run the problems command on it,
 * and report. A farm's id is its task's id.
 */
export function createFarmHandler(deps: FarmHandlerDeps): TaskHandler {
  return async (ctx) => {
    const { config } = deps;
    const { task } = ctx;
    const request = await checkRequest(ctx, deps);
    const root = request.root;
    // Worktrees keep their git data in the repository's .git: readable, so git works in them.
    const inWorktree = { sandbox: commandSandbox(config.sandbox, deps.logger), readOnly: [path.join(root, '.git')] };
    const store = new FarmStore(deps.redis, deps.keys, task.taskId);
    const base = request.base;
    await store.create({
      task_id: task.taskId, status: 'starting', path: root, agents_wanted: String(request.agentCount), runtime: request.runtime,
      problems_command: request.problemsCommand ?? '', base_commit: base, description: task.description.slice(0, 500),
    });

    // 1. The work: problems (from a command or a list) in chunks by file, or the task split into parts.
    const found = await findWork(ctx, deps, request);
    if (found.kind === 'nothing') {
      await store.update({ status: 'completed', problems_before: 0, problems_after: 0, ended_at: new Date().toISOString() });
      await store.expire(config.retentionMs);
      return { summary: `nothing to fix: \`${request.problemsCommand}\` reports no problems`, files_created: [], files_modified: [], problems_before: 0, problems_after: 0, agents: {}, chunks: { total: 0, done: 0, given_up: 0 }, branches: [], conflicts: [] };
    }
    const chunks = found.chunks;
    await ctx.log(`farm ${task.taskId}: ${found.note}; ${chunks.length} chunk(s) for ${request.agentCount} agent(s) (${request.runtime})`);
    await store.queueChunks(chunks);
    await store.update({ status: 'running', problems_before: found.problems.length, chunks_total: chunks.length, chunk_ids: JSON.stringify(chunks.map((c) => c.id)) });

    // 2. The agents, each in its own worktree on its own branch.
    const farmDir = path.join(config.farm.dir, task.taskId);
    mkdirSync(farmDir, { recursive: true });
    const runtime = await deps.runtime(request.runtime);
    const memory = deps.memory ? await deps.memory.context(task, worker(deps)) : undefined;
    if (memory) await ctx.log(`farm: ${memory.note}`);
    const stop = new AbortController();
    let stoppedBy: string | undefined;
    // A person's `dan farm stop` ends it as cancelled (nothing to learn); anything else that stops it did not reach its goal.
    let stopCode: FailureCode = FailureCode.farmFailed;
    // Cancelled, timed out, or the orchestrator shutting down: the agents stop the same way.
    const onAbort = () => { stoppedBy ??= 'stopped: the farm task was cancelled, timed out or handed back'; stop.abort(); };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const watchStop = (async () => {
      while (!stop.signal.aborted) {
        if (await store.stopRequested().catch(() => false)) { stoppedBy = 'stopped by dan farm stop'; stopCode = FailureCode.cancelled; stop.abort(); break; }
        await sleep(STOP_POLL_MS, stop.signal);
      }
    })();
    const agentCount = Math.min(request.agentCount, chunks.length);
    // The farm's budget (its task's metadata.budget_usd) is shared by all its agents, spent through the
    // model gateway like any task's: once it refused a call, the farm stops, failed budget_exceeded.
    const stopIfBudgetSpent = async (): Promise<boolean> => {
      const refused = (await readTaskCost(deps.redis, deps.keys, task.taskId).catch(() => undefined))?.budget_exceeded;
      if (!refused) return false;
      if (stoppedBy !== undefined) return true;
      stoppedBy = `stopped: a model call was refused, the ${refused.scope === 'task' ? "farm's budget" : `${refused.scope} budget`} of $${refused.budget_usd} is spent ($${refused.spent_usd}); start it again with a larger budget_usd (dan farm start --budget-usd)`;
      stopCode = FailureCode.budgetExceeded;
      stop.abort();
      return true;
    };
    const names = Array.from({ length: agentCount }, (_, i) => `agent-${i + 1}`);
    const branchOf = (name: string) => `dan-farm/${task.taskId}/${name}`;
    const worktreeOf = (name: string) => path.join(farmDir, name);
    const hookScript = path.join(packageRoot(), 'dist', 'src', 'farm', 'farm-edit-hook.js');
    let reports: AgentReport[] = [];
    try {
      // One after the other: git does not add two worktrees of one repository at once safely.
      for (const name of names) await addWorktree(root, worktreeOf(name), branchOf(name), base);
      await ctx.log(`farm: ${agentCount} worktree(s) under ${farmDir}, branches ${names.map(branchOf).join(', ')}`);
      reports = await Promise.all(names.map(async (name) => {
        const registryId = `${deps.agentId}-${name}-${task.taskId.slice(0, 8)}`;
        await deps.lifecycle.started(registryId, worker(deps), task);
        await store.setAgent(name, { agent_id: registryId });
        try {
          const guardSettings = { store, agent: name, worktree: worktreeOf(name), lockMs: config.farm.lockMs };
          return await new FarmAgent({
            name, farmId: task.taskId, store, worktree: worktreeOf(name), branch: branchOf(name), runtime, task,
            domain: deps.domain, worker: worker(deps),
            guard: farmEditGuard(guardSettings, { script: hookScript, env: { REDIS_URL: config.redisUrl, DAN_KEY_PREFIX: config.keyPrefix } }),
            policy: config.farm, leaseMs: config.leaseMs, lockMs: config.farm.lockMs, chunkCount: chunks.length,
            problemsCommand: request.problemsCommand, problemsTimeoutMs: config.farm.problemsTimeoutMs, problemsPlace: inWorktree, maxChunkAttempts: MAX_CHUNK_ATTEMPTS,
            memory: memory?.text, signal: stop.signal, stopIfBudgetSpent, log: ctx.log, logger: deps.logger,
            // A lesson an agent records is a candidate with the farm task and the agent as its origin.
            ...(deps.memory ? { recordHeuristic: deps.memory.recorder(task, name), contradictHeuristic: deps.memory.contradictor(task, name) } : {}),
          }).run();
        } finally {
          await deps.lifecycle.finished(registryId);
        }
      }));
    } finally {
      stop.abort();
      await watchStop;
      ctx.signal.removeEventListener('abort', onAbort);
    }

    // 3. Chunks nobody could finish, then the merge and the re-run.
    for (const id of await store.queued()) {
      await store.dropQueued(id);
      await store.endChunk(id, { status: 'given_up', error: stoppedBy ?? 'no agent left to take it' });
    }
    await store.update({ status: 'merging' });
    const resultBranch = `dan-farm/${task.taskId}/result`;
    const resultDir = path.join(farmDir, 'result');
    await addWorktree(root, resultDir, resultBranch, base);
    const withChanges = reports.filter((r) => r.chunks_done.length > 0).map((r) => r.branch);
    const merge = await mergeBranches(resultDir, withChanges);
    // The re-run sees what the first run saw: the repository's ignored dependency folders (read-only).
    const dependencies = request.problemsCommand ? await linkDependencies(root, resultDir) : [];
    const after = request.problemsCommand
      ? await runProblemsCommand(request.problemsCommand, resultDir, config.farm.problemsTimeoutMs, { ...inWorktree, readOnly: [...inWorktree.readOnly, ...dependencies] })
      : undefined;
    const unverified = after ? unknownCountReason(after) : undefined;
    if (after) await ctx.log(`farm: \`${request.problemsCommand}\` on the result exited ${after.exitCode ?? 'by a signal'} with ${unverified ? 'an unknown number of problems' : `${after.problems.length} problem(s)`}`);
    const diff = (await git(root, ['diff', '--name-status', base, resultBranch])).split('\n').filter((l) => l !== '');
    const created = diff.filter((l) => l.startsWith('A')).map((l) => l.split('\t').at(-1) ?? '').sort();
    const modified = diff.filter((l) => !l.startsWith('A')).map((l) => l.split('\t').at(-1) ?? '').sort();
    for (const name of names) await removeWorktree(root, worktreeOf(name));
    await removeWorktree(root, resultDir);
    rmSync(farmDir, { recursive: true, force: true });

    const chunkStates = await store.chunks();
    const done = chunkStates.filter((c) => c['status'] === 'done').length;
    const givenUp = chunkStates.filter((c) => c['status'] === 'given_up').map((c) => c['id'] ?? '');
    const tokensIn = reports.reduce((sum, r) => sum + r.tokens_in, 0);
    const tokensOut = reports.reduce((sum, r) => sum + r.tokens_out, 0);
    // Unknown is never zero: a check that could not run says nothing about what is left.
    const problemsAfter = after && !unverified ? after.problems.length : undefined;
    const output = {
      summary: summaryOf(found.problems.length, after ? problemsAfter ?? 'unknown' : undefined, done, chunks.length, givenUp.length, merge.conflicts.length, resultBranch),
      files_created: created,
      files_modified: modified,
      problems_before: found.problems.length,
      problems_after: problemsAfter ?? null,
      problems_left: after && !unverified ? after.problems.slice(0, 50) : [],
      ...(unverified ? { verification: `\`${request.problemsCommand}\` could not check the result: ${unverified}` } : {}),
      agents: Object.fromEntries(reports.map((r) => [r.name, r])),
      chunks: { total: chunks.length, done, given_up: givenUp.length, given_up_ids: givenUp },
      branches: reports.map((r) => r.branch),
      result_branch: resultBranch,
      merged: merge.merged,
      conflicts: merge.conflicts,
      usage: { input_tokens: tokensIn, output_tokens: tokensOut },
      tokens_per_fixed_problem: problemsAfter !== undefined && found.problems.length > problemsAfter
        ? Math.round((tokensIn + tokensOut) / (found.problems.length - problemsAfter)) : null,
      pushed: false,
    };
    const failure = stoppedBy
      ?? (givenUp.length > 0 ? `${givenUp.length} chunk(s) given up: ${givenUp.join(', ')}` : undefined)
      ?? (merge.conflicts.length > 0 ? `merge conflicts: ${merge.conflicts.map((c) => `${c.branch} (${c.files.join(', ')})`).join('; ')}` : undefined)
      ?? (unverified ? `could not verify the result: \`${request.problemsCommand}\` ${unverified}; run it on branch ${resultBranch} yourself, with the repository's dependencies installed` : undefined);
    const failureCode = stoppedBy ? stopCode : givenUp.length > 0 || merge.conflicts.length > 0 ? FailureCode.farmFailed : FailureCode.verificationUnavailable;
    await store.update({
      status: failure ? 'failed' : 'completed', problems_after: problemsAfter ?? (unverified ? 'unknown' : ''), chunks_done: done, chunks_given_up: givenUp.length,
      result_branch: resultBranch, conflicts: merge.conflicts.length, ended_at: new Date().toISOString(), ...(failure ? { error: failure } : {}),
    });
    await store.expire(config.retentionMs);
    await ctx.log(`farm ${task.taskId}: ${output.summary}`);
    if (failure) throw new TaskFailedError(`farm ${failure}`, output, failureCode);
    return output;
  };
}

function worker(deps: FarmHandlerDeps) {
  const found = deps.domain.workers.find((w) => w.isDefault) ?? deps.domain.workers[0];
  if (!found) throw new TaskFailedError(`the farm domain (${deps.domain.file}) has no agent definition: add workers/agent.md`, {}, FailureCode.badConfig);
  return found;
}

function summaryOf(before: number, after: number | 'unknown' | undefined, done: number, total: number, givenUp: number, conflicts: number, branch: string): string {
  const counts = after === undefined ? `${done} of ${total} part(s) done` : `problems ${before} -> ${after}; ${done} of ${total} chunk(s) done`;
  return `${counts}${givenUp ? `, ${givenUp} given up` : ''}${conflicts ? `, ${conflicts} merge conflict(s)` : ''}; result on branch ${branch} (nothing pushed)`;
}

interface CheckedRequest extends FarmRequest {
  root: string;
  base: string;
}

/** Every reason the farm cannot start, each with its fix, before any agent starts. */
async function checkRequest(ctx: TaskContext, deps: FarmHandlerDeps): Promise<CheckedRequest> {
  const { config } = deps;
  const refuse = async (reasons: string[]): Promise<never> => {
    await ctx.log(`farm refused: ${reasons.join('; ')}`);
    throw new TaskFailedError(`farm refused: ${reasons.join('; ')}`, { summary: 'refused before any agent started', refused: reasons, files_created: [], files_modified: [] }, FailureCode.farmRefused);
  };
  // A client's farm stays in its client's folder, as its tasks do (lib/workspace/task-workspace.ts).
  const workspace = clientWorkspaceRoot(config.workspace, ctx.task.metadata['client_id']);
  const roots = workspace === config.workspace ? [config.workspace, ...config.farm.roots] : [workspace];
  const parsed = parseFarmRequest(ctx.task.context, { agentCount: config.farm.agents, maxAgents: config.farm.maxAgents, runtime: config.farm.runtime, workspace });
  if (!parsed.ok) return refuse(parsed.problems);
  const request = parsed.request;
  const reasons: string[] = [];
  const root = await repositoryRoot(request.path);
  if (!root) reasons.push(`${request.path} is not a git repository (or does not exist): run 'git init && git add -A && git commit -m start' in it, or give the repository's folder as path`);
  const outside = farmPathOutsideRoots(root ? [request.path, root] : [request.path], roots);
  if (outside) reasons.push(outside);
  const sandbox = commandSandbox(config.sandbox, deps.logger);
  if (request.problemsCommand && sandbox instanceof RefusingSandbox) reasons.push(`the problems command cannot run: ${sandbox.reason}; install bubblewrap, or set DAN_SANDBOX=off to run commands unconfined`);
  const base = root ? await headCommit(root) : undefined;
  if (root && !base) reasons.push(`${root} has no commit yet: commit your work first ('git add -A && git commit -m start'); agents branch from HEAD`);
  if (request.runtime === 'claude-code') {
    const claude = config.claudePath ?? findClaude();
    if (!programExists(claude)) reasons.push(`the Claude Code CLI (${claude}) is not installed: npm install @anthropic-ai/claude-code, set DAN_CLAUDE_PATH, or use the SDK runtime (context.runtime "sdk", dan farm start --runtime sdk)`);
  }
  if (reasons.length > 0 || !root || !base) return refuse(reasons);
  return { ...request, root, base };
}

type FoundWork = { kind: 'nothing' } | { kind: 'work'; chunks: Chunk[]; problems: Problem[]; note: string };

async function findWork(ctx: TaskContext, deps: FarmHandlerDeps, request: CheckedRequest): Promise<FoundWork> {
  const { config } = deps;
  if (request.problemsCommand) {
    const run = await runProblemsCommand(request.problemsCommand, request.root, config.farm.problemsTimeoutMs, { sandbox: commandSandbox(config.sandbox, deps.logger) }, ctx.signal);
    await ctx.log(`farm: \`${request.problemsCommand}\` exited ${run.exitCode ?? 'by a signal'} with ${run.problems.length} problem(s)`);
    if (run.missing) {
      throw new TaskFailedError(`farm refused: the problems command \`${request.problemsCommand}\` was not found (${outputTail(run.output, 1)}): check its spelling, install the tool, and try it in ${request.root} yourself`,
        { summary: 'refused before any agent started', files_created: [], files_modified: [] }, FailureCode.farmRefused);
    }
    if (run.problems.length === 0 && run.exitCode !== 0) {
      throw new TaskFailedError(`farm refused: the problems command \`${request.problemsCommand}\` failed (exit ${run.exitCode ?? 'by a signal'}) without problems the farm can read (file:line[:col]: message, tsc or eslint output): ${outputTail(run.output)}; fix the command, or list the problems in context.problems`,
        { summary: 'refused before any agent started', files_created: [], files_modified: [] }, FailureCode.farmRefused);
    }
    if (run.problems.length === 0) return { kind: 'nothing' };
    return { kind: 'work', problems: run.problems, chunks: chunkProblems(run.problems, request.filesPerChunk), note: `${run.problems.length} problem(s) in ${new Set(run.problems.map((p) => p.file)).size} file(s)` };
  }
  if (request.problemsList) {
    const problems = parseProblems(request.problemsList.join('\n'), request.root);
    if (problems.length === 0) {
      throw new TaskFailedError('farm refused: context.problems has no line the farm can read: write each as file:line[:col]: message', { summary: 'refused before any agent started', files_created: [], files_modified: [] }, FailureCode.farmRefused);
    }
    return { kind: 'work', problems, chunks: chunkProblems(problems, request.filesPerChunk), note: `${problems.length} listed problem(s)` };
  }
  const files = (await git(request.root, ['ls-files'])).split('\n').filter((f) => f !== '');
  // The split is the farm's own call: priced to its task like its agents' calls.
  const llm = attributedLlmClient(await deps.llm(), { taskId: ctx.task.taskId, worker: 'splitter' });
  const split = await splitTask(llm, resolveModel(config, deps.domain.model), ctx.task.description, files, request.agentCount, ctx.signal);
  return { kind: 'work', problems: [], chunks: split.chunks, note: split.note };
}
