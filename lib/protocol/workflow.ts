import type { Priority } from './task.js';

/**
 * Whether a task runs when a task it depends on did not complete: `success` (the default) fails it
 * with `dependency_failed`; `always` runs it anyway (clean-up, reports).
 */
export const RUN_IF = ['success', 'always'] as const;
export type RunIf = (typeof RUN_IF)[number];

/** Steps one workflow may have: a file of 10,000 is refused before any of it is queued. */
export const MAX_WORKFLOW_STEPS = 500;
/** Tasks one task may wait on. */
export const MAX_DEPENDENCIES = 100;
/** Bytes of YAML read at most: a step is a few lines, and 500 of them fit well within this. */
export const MAX_WORKFLOW_BYTES = 1024 * 1024;
/** A step's name becomes part of its task id (`<workflow id>.<name>`), so it follows a narrower rule. */
export const STEP_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;

/** One step of a workflow file, validated. */
export interface WorkflowStep {
  name: string;
  /** `main` (routed) when the file names none. */
  domain: string;
  description: string;
  needs: string[];
  runIf: RunIf;
  priority?: Priority;
  timeoutSeconds?: number;
  requirements: string[];
  context: Record<string, unknown>;
  /** Passed through to the step's task metadata: verify, verify_mode, max_attempts, delivery. */
  metadata: Record<string, unknown>;
}

/** A workflow file, validated: its steps in file order. */
export interface Workflow {
  name: string;
  steps: WorkflowStep[];
}

/** A problem in a workflow file, with its line (1-based; 0 when it is about the whole file) and the fix. */
export interface WorkflowProblem {
  line: number;
  message: string;
}

export type WorkflowParse = { ok: true; workflow: Workflow } | { ok: false; problems: WorkflowProblem[] };

/**
 * A cycle among nodes that wait on others (`after`: ids of other nodes; ids not among the nodes are
 * ignored), as the ids along it with the first repeated at the end; undefined when there is none.
 * Iterative, so 500 steps in a chain cost no deep recursion.
 */
export function findCycle(nodes: readonly { id: string; after: readonly string[] }[]): string[] | undefined {
  const after = new Map(nodes.map((n) => [n.id, n.after]));
  const state = new Map<string, 1 | 2>(); // 1: on the current path, 2: done
  for (const start of nodes) {
    if (state.has(start.id)) continue;
    const path: string[] = [start.id];
    const next: number[] = [0];
    state.set(start.id, 1);
    while (path.length > 0) {
      const id = path[path.length - 1] as string;
      const deps = after.get(id) ?? [];
      const i = next[next.length - 1] as number;
      if (i >= deps.length) {
        state.set(id, 2);
        path.pop();
        next.pop();
        continue;
      }
      next[next.length - 1] = i + 1;
      const dep = deps[i] as string;
      if (!after.has(dep)) continue;
      const seen = state.get(dep);
      if (seen === 1) return [...path.slice(path.indexOf(dep)), dep];
      if (seen === undefined) {
        state.set(dep, 1);
        path.push(dep);
        next.push(0);
      }
    }
  }
  return undefined;
}

/** Steps in an order where each comes after the steps it needs (the file's order where free). */
export function stepOrder(steps: readonly WorkflowStep[]): WorkflowStep[] {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const placed = new Set<string>();
  const out: WorkflowStep[] = [];
  const visit = (step: WorkflowStep): void => {
    const stack: [WorkflowStep, number][] = [[step, 0]];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as [WorkflowStep, number];
      const [s, i] = top;
      if (placed.has(s.name)) { stack.pop(); continue; }
      const need = s.needs[i];
      if (need === undefined) { placed.add(s.name); out.push(s); stack.pop(); continue; }
      top[1] = i + 1;
      const dep = byName.get(need);
      if (dep && !placed.has(dep.name)) stack.push([dep, 0]);
    }
  };
  for (const step of steps) visit(step);
  return out;
}
