import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import { InvalidInputError } from '../../lib/errors.js';
import { buildTaskJson, taskIdProblem } from '../../lib/protocol/task.js';
import type { Workflow, WorkflowProblem } from '../../lib/protocol/workflow.js';
import { stepOrder } from '../../lib/protocol/workflow.js';
import { parseWorkflow } from '../../lib/protocol/workflow-file.js';
import type { Keys } from '../../lib/redis/keys.js';
import type { WaitingTask, WorkflowStepState } from '../../lib/redis/task-dependencies.js';
import { readWorkflowSteps, submitAfter } from '../../lib/redis/task-dependencies.js';
import { getResult } from '../../lib/redis/task-store.js';
import { checkDomains, taskProblem } from './submit-job.js';

/** The domain a workflow's own task is recorded under (it never runs: it ends when its steps have). */
export const WORKFLOW_DOMAIN = 'workflow';

/** The task id of a step: `<workflow id>.<step name>`, so a step's id says whose and which it is. */
export function stepTaskId(workflowId: string, step: string): string {
  return `${workflowId}.${step}`;
}

/** A workflow file refused: every problem with its line, as `FILE:LINE: message` lines. */
export class WorkflowFileError extends InvalidInputError {
  constructor(readonly problems: WorkflowProblem[], file = 'workflow') {
    super(problems.map((p) => `${file}:${p.line}: ${p.message}`).join('\n'));
  }
}

/** Parses a workflow file's text, throwing `WorkflowFileError` with each problem's line and fix. */
export function readWorkflow(text: string, file?: string): Workflow {
  const parsed = parseWorkflow(text);
  if (!parsed.ok) throw new WorkflowFileError(parsed.problems, file);
  return parsed.workflow;
}

/**
 * Sends a workflow (`dan run`, `POST /workflows`): one parent task (domain `workflow`) whose children
 * are its steps, each a task that waits on the steps it needs, all written in one atomic step. Steps
 * with no needs are queued at once; the rest wait (status `waiting`), and the parent ends when every
 * step has: completed, or failed (`child_failed`) naming the steps that did not complete.
 */
export async function submitWorkflow(
  redis: Redis, keys: Keys, config: Config, workflow: Workflow, options: { clientId?: string; source: string; workflowId?: string },
): Promise<{ workflowId: string; steps: { name: string; taskId: string }[] }> {
  const workflowId = options.workflowId ?? randomUUID();
  await checkDomains(redis, keys, config, workflow.steps.map((s) => s.domain));
  const now = new Date().toISOString();
  const client = options.clientId !== undefined ? { client_id: options.clientId } : {};
  const tasks: WaitingTask[] = [];
  for (const step of stepOrder(workflow.steps)) {
    const taskId = stepTaskId(workflowId, step.name);
    const idProblem = taskIdProblem(taskId);
    if (idProblem !== undefined) throw new InvalidInputError(`step '${step.name}': ${idProblem}; use a shorter step name`);
    const after = step.needs.map((n) => stepTaskId(workflowId, n));
    const input = {
      domain: step.domain, description: step.description, source: options.source, requirements: step.requirements, context: step.context,
      parentId: workflowId,
      ...(step.priority !== undefined ? { priority: step.priority } : {}),
      ...(step.timeoutSeconds !== undefined ? { timeoutSeconds: step.timeoutSeconds } : {}),
      extraMetadata: {
        ...step.metadata, ...client, workflow_step: step.name,
        ...(after.length > 0 ? { depends_on: after } : {}), ...(step.runIf === 'always' ? { run_if: 'always' } : {}),
      },
    };
    const problem = taskProblem({ ...input, taskId }, config);
    if (problem !== undefined) throw new InvalidInputError(`step '${step.name}': ${problem}`);
    tasks.push({ taskId, raw: buildTaskJson(input, taskId, now), domain: step.domain, parentId: workflowId, description: step.description, after, runIf: step.runIf, kind: 'task' });
  }
  const description = `workflow ${workflow.name} (${workflow.steps.length} steps)`;
  tasks.push({
    taskId: workflowId, domain: WORKFLOW_DOMAIN, description, after: tasks.map((t) => t.taskId), runIf: 'always', kind: 'workflow', steps: tasks.length,
    raw: buildTaskJson({ domain: WORKFLOW_DOMAIN, description, type: 'workflow', source: options.source, extraMetadata: { ...client, workflow: workflow.name } }, workflowId, now),
  });
  await submitAfter(redis, keys, tasks, { ...(options.clientId !== undefined ? { clientId: options.clientId } : {}), retentionMs: config.retentionMs });
  return { workflowId, steps: workflow.steps.map((s) => ({ name: s.name, taskId: stepTaskId(workflowId, s.name) })) };
}

/** One step as `dan status`, `GET /workflows/{id}` and the dashboard show it. */
export interface WorkflowGraphStep {
  name: string;
  task_id: string;
  status: string;
  needs: string[];
  /** How many steps deep it sits (0: needs none), for indenting. */
  depth: number;
  error?: string;
}

/** A workflow's steps with their states, each after the steps it needs; undefined when `workflowId` has no steps. */
export async function workflowGraph(redis: Redis, keys: Keys, workflowId: string): Promise<WorkflowGraphStep[] | undefined> {
  const states = await readWorkflowSteps(redis, keys, workflowId);
  if (states.length === 0) return undefined;
  return graphOf(workflowId, states);
}

/** The graph of steps read from Redis: pure, so its order and depths are tested on plain data. */
export function graphOf(workflowId: string, states: readonly WorkflowStepState[]): WorkflowGraphStep[] {
  const nameOf = (id: string): string => (id.startsWith(`${workflowId}.`) ? id.slice(workflowId.length + 1) : id);
  const steps = states.map((s) => ({ name: nameOf(s.taskId), state: s, needs: s.dependsOn.map(nameOf) }));
  const byName = new Map(steps.map((s) => [s.name, s]));
  const depth = new Map<string, number>();
  const ordered = stepOrder(steps.map((s) => ({ name: s.name, needs: s.needs, domain: '', description: '', runIf: 'success', requirements: [], context: {}, metadata: {} })));
  for (const s of ordered) depth.set(s.name, Math.max(-1, ...s.needs.map((n) => depth.get(n) ?? -1)) + 1);
  return ordered.map((o) => {
    const step = byName.get(o.name) as (typeof steps)[number];
    return {
      name: step.name, task_id: step.state.taskId, status: step.state.status, needs: step.needs, depth: depth.get(step.name) ?? 0,
      ...(step.state.error ? { error: step.state.error } : {}),
    };
  });
}

/** The graph as text lines: each step indented by its depth, with its state and what it needs. */
export function graphLines(graph: readonly WorkflowGraphStep[]): string[] {
  return graph.map((s) => `${'  '.repeat(Math.min(s.depth, 20))}${s.name} [${s.status}]${s.needs.length > 0 ? ` needs ${s.needs.join(', ')}` : ''}${s.error ? ` - ${s.error.slice(0, 200)}` : ''}`);
}

/** A workflow and its steps as they stand, if `workflowId` is a workflow. */
export async function readWorkflowView(redis: Redis, keys: Keys, workflowId: string): Promise<{ status: string; clientId: string | undefined; steps: WorkflowGraphStep[] } | undefined> {
  const result = await getResult(redis, keys, workflowId);
  if (!result || result.domain !== WORKFLOW_DOMAIN) return undefined;
  return { status: result.status, clientId: result.clientId, steps: (await workflowGraph(redis, keys, workflowId)) ?? [] };
}
