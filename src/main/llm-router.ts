import { z } from 'zod';
import type { ModelCallTiming } from '../../lib/protocol/timed-call.js';
import type { AgentCatalog } from '../../lib/agents/agent-definitions.js';
import { dependencyWaves } from '../../lib/agents/dependency-waves.js';
import { askModelJson } from '../../lib/agents/model-json.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';
import type { Plan, PlanStep, RoutableTask } from './plan.js';
import { planTask, spreadRequirements } from './scoring-router.js';

/** Marker the local model server's rules match on to answer routing requests (also in router.md). */
export const ROUTER_MARKER = 'dan-router';

/** Inputs of `planWithModel`. */
export interface ModelPlanInput {
  client: LlmClient;
  /** Model id sent to the API (already resolved from an alias). */
  model: string;
  catalog: AgentCatalog;
  task: RoutableTask;
  signal?: AbortSignal;
  /** Hears how the model call went (its duration, and its error when it failed), for the task's timeline. */
  onModelCall?: (call: ModelCallTiming) => void;
}

const answerSchema = z.object({
  steps: z
    .array(
      z.object({
        domain: z.string({ error: 'each step needs a "domain" name' }).trim().min(1, { error: 'a step has an empty "domain"' }),
        description: z.string({ error: 'each step needs a "description"' }).trim().min(1, { error: 'a step has an empty "description"' }),
        depends_on: z.array(z.string(), { error: '"depends_on" must be a list of domain names' }).default([]),
      }),
      { error: 'the answer needs a "steps" list' },
    )
    .min(1, { error: '"steps" is empty' }),
});

type ModelStep = z.infer<typeof answerSchema>['steps'][number];

/**
 * Asks the model how to split a task across the catalog's domains. The answer must be a usable
 * plan: known domains, each at most once, dependencies inside the plan and free of cycles. Anything
 * else (the call failed, no JSON, an invalid plan) gives the keyword router's plan with strategy
 * `fallback` and the problem in `reason`, so a bad answer never stops a task. A cancelled call (the
 * signal aborted) is rethrown instead: nobody is waiting for a plan any more.
 */
export async function planWithModel(input: ModelPlanInput): Promise<Plan> {
  const { client, model, catalog, task, signal } = input;
  const fallback = (problem: string): Plan => {
    const scored = planTask(task, catalog);
    return { ...scored, strategy: 'fallback', reason: `model plan unusable (${problem}); ${scored.reason}` };
  };

  const parsed = await askModelJson(client, {
      model,
      max_tokens: 2048,
      temperature: 0,
      system: [{ type: 'text', text: routerSystemPrompt(catalog) }],
      messages: [{ role: 'user', content: routerUserMessage(task) }],
      metadata: { user_id: ROUTER_MARKER },
    }, answerSchema, signal, input.onModelCall);
  if (!parsed.ok) return fallback(parsed.problem);
  const steps = parsed.value.steps.map((step) => ({ ...step, domain: step.domain.toLowerCase(), depends_on: step.depends_on.map((d) => d.trim().toLowerCase()) }));
  const problem = planProblem(steps, catalog);
  if (problem !== undefined) return fallback(problem);

  const dependsOn = new Map(steps.map((step) => [step.domain, [...new Set(step.depends_on)]]));
  const ordered = dependencyWaves(steps.map((step) => step.domain), (domain) => dependsOn.get(domain) ?? []);
  const requirements = spreadRequirements(
    (task.requirements ?? []).map((r) => r.trim()).filter((r) => r !== ''),
    ordered.order,
    catalog,
  );
  const byDomain = new Map(steps.map((step) => [step.domain, step]));
  const planSteps: PlanStep[] = ordered.order.map((domain) => ({
    domain,
    description: byDomain.get(domain)?.description ?? task.description,
    dependsOn: ordered.dependsOn[domain] ?? [],
    requirements: requirements[domain] ?? [],
  }));
  const scores = planTask(task, catalog).scores;
  return { steps: planSteps, strategy: 'llm', reason: `planned by the model: ${ordered.order.join(' -> ')}`, scores };
}

/** Why a model's steps cannot be used as a plan, or undefined when they can. */
function planProblem(steps: readonly ModelStep[], catalog: AgentCatalog): string | undefined {
  const known = catalog.domains.map((d) => d.name).join(', ');
  const seen = new Set<string>();
  for (const step of steps) {
    if (catalog.domain(step.domain) === undefined) return `unknown domain '${step.domain}'; known: ${known}`;
    if (seen.has(step.domain)) return `domain '${step.domain}' appears in two steps`;
    seen.add(step.domain);
  }
  for (const step of steps) {
    for (const before of step.depends_on) {
      if (before === step.domain) return `step '${step.domain}' depends on itself`;
      if (!seen.has(before)) return `step '${step.domain}' depends on '${before}', which is not in the plan`;
    }
  }
  const dependsOn = new Map(steps.map((step) => [step.domain, step.depends_on]));
  const ordered = dependencyWaves([...seen], (domain) => dependsOn.get(domain) ?? []);
  const cycle = ordered.ignored[0];
  if (cycle !== undefined) return `the dependencies form a cycle ('${cycle[0]}' depends on '${cycle[1]}', which already waits for it)`;
  return undefined;
}

/** The router's system prompt: router.md's body, then the domains as `- <name>: <description>`. */
export function routerSystemPrompt(catalog: AgentCatalog): string {
  return [catalog.router.prompt.trim(), '', '## Domains', ...catalog.domains.map((d) => `- ${d.name}: ${d.description}`)].join('\n');
}

/** The router's user message: `Task: <description>`, then the requirements if there are any. */
export function routerUserMessage(task: RoutableTask): string {
  const requirements = (task.requirements ?? []).filter((r) => r.trim() !== '');
  const lines = [`Task: ${task.description}`];
  if (requirements.length > 0) lines.push('', 'Requirements:', ...requirements.map((r) => `- ${r}`));
  return lines.join('\n');
}
