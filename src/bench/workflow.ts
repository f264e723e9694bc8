import type { Config } from '../../lib/config.js';
import { DEFAULT_TASK_LIMITS } from '../../lib/protocol/task.js';
import type { Workflow, WorkflowStep } from '../../lib/protocol/workflow.js';
import { readWorkflowSteps } from '../../lib/redis/task-dependencies.js';
import { submitWorkflow } from '../operations/workflows.js';
import { commandCounts, commandsPerTask, percentile, round } from './bench-kit.js';
import type { BenchEnv } from './bench-network.js';
import { startBenchNetwork } from './bench-network.js';

/** Steps run in parallel between two joins. */
const FAN_WIDTH = 12;

export interface WorkflowResult {
  steps: number;
  /** From the last step a step needs completing to that step starting (its claim), over every step with needs. */
  release_to_start_ms: { median: number; p99: number; samples: number };
  /** Every Redis command of the run (workers, model path and all) over the steps. */
  commands_per_step: number;
  by_command: Record<string, number>;
  /** From the submit to the workflow's end. */
  total_ms: number;
}

/**
 * A workflow of `steps` steps in diamonds of fan-out and fan-in: one step, `width` in parallel needing
 * it, one needing them all, and so on. Every step is a backend task on the local model server.
 */
export function fanWorkflow(steps: number, width: number): Workflow {
  const out: WorkflowStep[] = [];
  const step = (name: string, needs: string[]): WorkflowStep => ({
    name, domain: 'backend', description: `Create a health endpoint for ${name}`, needs, runIf: 'success', requirements: [], context: {}, metadata: {},
  });
  let join = 'start';
  out.push(step(join, []));
  let layer = 0;
  while (out.length < steps) {
    const fan: string[] = [];
    for (let i = 0; i < width && out.length < steps - 1; i++) {
      fan.push(`l${layer}-${i}`);
      out.push(step(`l${layer}-${i}`, [join]));
    }
    if (out.length >= steps) break;
    join = `join${layer}`;
    out.push(step(join, fan.length > 0 ? fan : [out[out.length - 1]?.name ?? 'start']));
    layer++;
  }
  return { name: 'bench', steps: out };
}

/**
 * The workflow scenario: a fan-out and fan-in workflow on one network, measuring how soon a step
 * starts once the steps it needs have completed, and Redis commands per step.
 */
export async function measureWorkflow(env: BenchEnv, steps: number): Promise<WorkflowResult> {
  // Slots for a whole fan-out, so a released step waits for no free worker: the figure is the release's.
  const net = await startBenchNetwork(env, 'workflow', { DAN_DOMAIN_CONCURRENCY: String(FAN_WIDTH + 4), DAN_MAX_INSTANCES_PER_DOMAIN: '1' });
  try {
    const config = { retentionMs: 3_600_000, taskLimits: DEFAULT_TASK_LIMITS, agentsDir: 'agents' } as unknown as Config;
    // A first task starts the backend domain, so the run measures releases, not a spawn.
    await net.echo('backend', 1, 'workflow-warm');
    const before = await commandCounts(env.redis);
    const began = performance.now();
    const { workflowId } = await submitWorkflow(env.redis, net.keys, config, fanWorkflow(steps, FAN_WIDTH), { source: 'bench' });
    await net.events.waitAll([workflowId], 600_000);
    const total = performance.now() - began;
    const after = await commandCounts(env.redis);
    const end = net.events.finished.get(workflowId);
    if (end?.status !== 'completed') throw new Error(`bench: the workflow ${end?.status ?? 'did not end'}`);
    const states = await readWorkflowSteps(env.redis, net.keys, workflowId);
    const times = new Map<string, { started: number; completed: number }>();
    for (const s of states) {
      const [started, completed] = await env.redis.hmget(net.keys.result(s.taskId), 'started_at', 'completed_at');
      times.set(s.taskId, { started: Date.parse(started ?? ''), completed: Date.parse(completed ?? '') });
    }
    const gaps = states.filter((s) => s.dependsOn.length > 0).map((s) => {
      const ready = Math.max(...s.dependsOn.map((d) => times.get(d)?.completed ?? Number.NaN));
      return (times.get(s.taskId)?.started ?? Number.NaN) - ready;
    }).filter(Number.isFinite).sort((a, b) => a - b);
    const commands = commandsPerTask(before, after, steps);
    return {
      steps, release_to_start_ms: { median: round(percentile(gaps, 50)), p99: round(percentile(gaps, 99)), samples: gaps.length },
      commands_per_step: commands.total, by_command: commands.byCommand, total_ms: round(total, 0),
    };
  } finally {
    await net.stop();
  }
}
