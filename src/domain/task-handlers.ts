import type { AgentCatalog, DomainDefinition } from '../../lib/agents/agent-definitions.js';
import type { DomainKindName } from '../../lib/agents/domain-kinds.js';
import type { Config } from '../../lib/config.js';
import { resolveModel } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';
import type { Redis } from '../../lib/redis/connection.js';
import type { Keys } from '../../lib/redis/keys.js';
import type { Task } from '../../lib/protocol/task.js';
import type { TaskHandler } from '../../lib/runtime/task-consumer.js';
import type { WorkerRuntime } from '../worker/worker-runtime.js';
import type { DomainHandlerDeps } from './domain-handler.js';
import { createDomainHandler } from './domain-handler.js';
import { onTaskBranch, taskBranchOpener } from './task-branch-step.js';
import { selectWorkers, selectWorkersWithModel, withTesters } from './worker-selection.js';
import { createVerifiedHandler } from './verified-handler.js';
import { reviewStep } from './review-step.js';
import { commandSandbox } from '../../lib/sandbox/resolve-sandbox.js';
import { taskWorkspace } from '../../lib/workspace/task-workspace.js';

/** What a domain orchestrator hands the handler of its domain's kind. */
export interface TaskHandlerInputs {
  config: Config;
  domain: DomainDefinition;
  catalog: AgentCatalog;
  agentId: string;
  redis: Redis;
  keys: Keys;
  logger: Logger;
  llm: () => Promise<LlmClient>;
  runtime: (kind?: Config['workerRuntime']) => Promise<WorkerRuntime>;
  lifecycle: DomainHandlerDeps['lifecycle'];
  memory?: DomainHandlerDeps['memory'];
}

/**
 * The handler each kind of domain run by a domain orchestrator works its tasks with. A kind missing
 * here (the memory) runs as its own agent instead (see src/agent-kinds.ts).
 */
export const TASK_HANDLERS: Partial<Record<DomainKindName, (inputs: TaskHandlerInputs) => Promise<TaskHandler>>> = {
  // The checks (and their repair rounds) run inside the task's branch (task-branch-step.ts): they see
  // the task's worktree, and only work that passed them is delivered.
  workers: async (i) => {
    // Workers of roles left out of DAN_ROLES take no part; the reviewer judges rounds, it does not work in them.
    const domain = { ...i.domain, workers: i.domain.workers.filter((w) => i.config.roles.includes(w.role)) };
    const reviewer = domain.workers.find((w) => w.role === 'reviewer');
    const workspace = (task: Task) => taskWorkspace(i.config.workspace, task, i.config.workspaceRoots).root;
    return onTaskBranch(taskBranchOpener(i.config), createVerifiedHandler({
    workers: createDomainHandler({
      domain, catalog: i.catalog, agentId: i.agentId, logger: i.logger, runtime: () => i.runtime(), lifecycle: i.lifecycle,
      ...(i.memory ? { memory: i.memory } : {}),
      select: async (task, signal, onModelCall) => {
        if (i.config.workerSelector !== 'llm') return withTesters(selectWorkers(task, domain, i.config.workersPerTask), domain);
        const chosen = await selectWorkersWithModel({ client: await i.llm(), model: resolveModel(i.config, i.domain.model), domain, task, maxWorkers: i.config.workersPerTask, signal, onModelCall });
        return withTesters(chosen, domain);
      },
    }),
    domainChecks: i.domain.verify ?? [],
    rounds: i.config.checks.rounds,
    after: reviewer ? [reviewStep({ reviewer, domain, llm: i.llm, model: resolveModel(i.config, reviewer.model), maxTokens: i.config.llm.maxTokens, workspace })] : [],
    // The checks see what the workers saw: the task's worktree on its branch, else its workspace.
    place: (task, ctx) => ({
      sandbox: commandSandbox(i.config.sandbox, i.logger),
      cwd: ctx.workspace ?? workspace(task),
      // The repository's git folder and linked dependency folders, which the worktree's commands read.
      readOnly: ctx.readOnly ?? [],
      timeoutMs: i.config.checks.timeoutMs, maxOutputBytes: i.config.checks.maxOutputBytes,
    }),
  }));
  },
  // Loaded only by a farm domain: the farm's git and chunking code stays out of other domains.
  farm: async (i) => (await import('../farm/farm-handler.js')).createFarmHandler({
    config: i.config, domain: i.domain, agentId: i.agentId, redis: i.redis, keys: i.keys, runtime: i.runtime, llm: i.llm,
    lifecycle: i.lifecycle, logger: i.logger, ...(i.memory ? { memory: i.memory } : {}),
  }),
};
