import { z } from 'zod';
import type { ModelCallTiming } from '../../lib/protocol/timed-call.js';
import type { DomainDefinition, WorkerDefinition } from '../../lib/agents/agent-definitions.js';
import { DanError } from '../../lib/errors.js';
import { dependencyWaves } from '../../lib/agents/dependency-waves.js';
import { compileProfile, scoreText } from '../../lib/agents/keyword-score.js';
import { askModelJson } from '../../lib/agents/model-json.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';

/** A worker needs at least one keyword's worth of evidence to be picked. */
export const MIN_WORKER_SCORE = 1;
/** ...and at least this share of the best score: one stray keyword does not add a worker to a sub-task that matches another worker many times. */
export const RELATIVE_WORKER_SCORE = 0.15;

/** What a domain orchestrator selects workers for. */
export interface SelectableTask {
  description: string;
  requirements?: readonly string[];
}

/** The workers picked for a sub-task and the order they run in. */
export interface WorkerSelection {
  /** Workers of one wave may run in parallel; each wave starts after the previous one finished. */
  waves: WorkerDefinition[][];
  /** Every picked worker, in run order. */
  workers: WorkerDefinition[];
  /** Keyword score of every worker of the domain. */
  scores: Record<string, number>;
  /** `score`: by keywords; `llm`: by the model; `fallback`: the default worker, or keywords after an unusable model answer. */
  strategy: 'score' | 'llm' | 'fallback';
  reason: string;
}

/**
 * Picks the workers of a domain for a sub-task by keywords: those scoring at least
 * `MIN_WORKER_SCORE` and `RELATIVE_WORKER_SCORE` of the best, at most `maxWorkers`, highest first.
 * When none qualifies, the domain's default worker (or its first) does the job alone. Waves follow
 * the workers' `after` lists, so a db worker runs before the api worker that uses its tables.
 */
export function selectWorkers(task: SelectableTask, domain: DomainDefinition, maxWorkers: number): WorkerSelection {
  const text = [task.description, ...(task.requirements ?? [])].join('\n');
  const scored = pickable(domain).map((worker) => ({ worker, ...scoreText(text, compileProfile(worker.keywords, worker.description)) }));
  const scores = Object.fromEntries(scored.map((s) => [s.worker.name, s.score]));
  const top = Math.max(0, ...scored.map((s) => s.score));
  const eligible = scored
    .filter((s) => s.score >= MIN_WORKER_SCORE && s.score >= top * RELATIVE_WORKER_SCORE)
    .sort((a, b) => b.score - a.score || a.worker.name.localeCompare(b.worker.name));
  const picked = eligible.slice(0, Math.max(1, maxWorkers));

  if (picked.length === 0) {
    const fallback = defaultWorker(domain);
    return {
      ...inWaves([fallback], domain),
      scores,
      strategy: 'fallback',
      reason: `no worker keyword matched; using the ${fallback.isDefault ? 'default' : 'first'} worker '${fallback.name}'`,
    };
  }
  const because = picked.map((s) => `${s.worker.name} (${s.matched.join(', ') || 'description words'})`).join(', ');
  const dropped = eligible.slice(picked.length).map((s) => s.worker.name);
  const left = dropped.length > 0 ? `; capped at ${picked.length}, dropped ${dropped.join(', ')}` : '';
  return { ...inWaves(picked.map((s) => s.worker), domain), scores, strategy: 'score', reason: `keyword selection: ${because}${left}` };
}

/** The workers picked by what a task asks (coders, docs writers); testers join every task, a reviewer reviews it. */
export function pickable(domain: DomainDefinition): WorkerDefinition[] {
  return domain.workers.filter((w) => w.role === 'coder' || w.role === 'docs');
}

/**
 * A selection with the domain's testers (`role: tester`) as its last wave: they join every task and
 * test what the picked workers wrote, so they run after all of them.
 */
export function withTesters(selection: WorkerSelection, domain: DomainDefinition): WorkerSelection {
  const testers = domain.workers.filter((w) => w.role === 'tester');
  if (testers.length === 0) return selection;
  return {
    ...selection, waves: [...selection.waves, testers], workers: [...selection.workers, ...testers],
    reason: `${selection.reason}; testers last: ${testers.map((w) => w.name).join(', ')}`,
  };
}

/** The worker that takes a sub-task nobody else matches. */
export function defaultWorker(domain: DomainDefinition): WorkerDefinition {
  const candidates = pickable(domain);
  const worker = candidates.find((w) => w.isDefault) ?? candidates[0];
  // The catalog loader refuses a domain without workers, so this only guards hand-built definitions.
  if (worker === undefined) throw new DanError('invalid_agent_definition', `domain '${domain.name}' has no workers: add a file under ${domain.name}/workers/`);
  return worker;
}

/** Groups chosen workers into waves by their `after` lists (limited to the chosen ones). */
export function inWaves(workers: readonly WorkerDefinition[], domain: DomainDefinition): Pick<WorkerSelection, 'waves' | 'workers'> {
  const byName = new Map(workers.map((w) => [w.name, w]));
  const ordered = dependencyWaves(
    workers.map((w) => w.name),
    (name) => domain.workers.find((w) => w.name === name)?.after ?? [],
  );
  const waves = ordered.waves.map((wave) => wave.map((name) => byName.get(name) as WorkerDefinition));
  return { waves, workers: waves.flat() };
}

/** Marker the local model server's rules match on to answer worker selection requests. */
export const WORKER_SELECTOR_MARKER = 'dan-worker-selector';

/** Inputs of `selectWorkersWithModel`. */
export interface ModelWorkerSelectionInput {
  client: LlmClient;
  /** Model id sent to the API (already resolved from an alias). */
  model: string;
  domain: DomainDefinition;
  task: SelectableTask;
  maxWorkers: number;
  signal?: AbortSignal;
  /** Hears how the model call went (its duration, and its error when it failed), for the task's timeline. */
  onModelCall?: (call: ModelCallTiming) => void;
}

const answerSchema = z.object({
  workers: z.array(z.string().trim().min(1), { error: '"workers" must be a list of worker names' }).min(1, { error: '"workers" is empty' }),
});

/**
 * Lets the model pick the workers for a sub-task. Any problem with the answer (the call failed,
 * no JSON, unknown or no worker names) falls back to `selectWorkers` with the problem in `reason`, so
 * a bad answer never stops a task. A cancelled call (the signal aborted) is rethrown instead:
 * nobody is waiting for a selection any more.
 */
export async function selectWorkersWithModel(input: ModelWorkerSelectionInput): Promise<WorkerSelection> {
  const { client, model, domain, task, maxWorkers, signal } = input;
  const fallback = (problem: string): WorkerSelection => {
    const scored = selectWorkers(task, domain, maxWorkers);
    return { ...scored, strategy: 'fallback', reason: `model selection unusable (${problem}); ${scored.reason}` };
  };

  const parsed = await askModelJson(client, {
      model,
      max_tokens: 512,
      temperature: 0,
      system: [{ type: 'text', text: workerSelectorPrompt(domain, maxWorkers) }],
      messages: [{ role: 'user', content: taskMessage(task) }],
      metadata: { user_id: `${WORKER_SELECTOR_MARKER}:${domain.name}` },
    }, answerSchema, signal, input.onModelCall);
  if (!parsed.ok) return fallback(parsed.problem);
  const names = [...new Set(parsed.value.workers.map((name) => name.toLowerCase()))];
  const unknown = names.filter((name) => !pickable(domain).some((w) => w.name === name));
  if (unknown.length > 0) {
    return fallback(`unknown worker${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')}; known: ${pickable(domain).map((w) => w.name).join(', ')}`);
  }
  const kept = names.slice(0, Math.max(1, maxWorkers));
  const chosen = kept.map((name) => domain.workers.find((w) => w.name === name) as WorkerDefinition);
  const { scores } = selectWorkers(task, domain, maxWorkers);
  const capped = kept.length < names.length ? `; capped at ${maxWorkers}, dropped ${names.slice(kept.length).join(', ')}` : '';
  return { ...inWaves(chosen, domain), scores, strategy: 'llm', reason: `chosen by the model: ${kept.join(', ')}${capped}` };
}

/** The selector's system prompt: what to answer, and the domain's workers as `- <name>: <description>`. */
export function workerSelectorPrompt(domain: DomainDefinition, maxWorkers: number): string {
  return [
    `You are ${WORKER_SELECTOR_MARKER}, the part of the ${domain.name} domain orchestrator of dan that picks which workers do a sub-task.`,
    `Pick the fewest workers whose speciality the sub-task needs, at most ${maxWorkers}. The order of the workers is decided from their definitions, so list them in any order.`,
    'Answer with one JSON object and nothing else: {"workers": ["<name>", ...]}. Use only names from this list:',
    ...pickable(domain).map((worker) => `- ${worker.name}: ${worker.description}`),
    '',
    `## The ${domain.name} domain`,
    domain.prompt.trim(),
  ].join('\n');
}

function taskMessage(task: SelectableTask): string {
  const requirements = task.requirements ?? [];
  const lines = [`Task: ${task.description}`];
  if (requirements.length > 0) lines.push('', 'Requirements:', ...requirements.map((r) => `- ${r}`));
  return lines.join('\n');
}
