import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { ScriptedLlmClient } from '../../lib/llm/scripted-llm-client.js';
import { planWithModel } from '../../src/main/llm-router.js';

const catalog = loadAgentCatalog(path.resolve(import.meta.dirname, '../../agents'));
const REGISTRATION = 'Add user registration: a POST /api/users endpoint and a signup form';

async function planWith(reply: string | Error, requirements: string[] = []) {
  const client = new ScriptedLlmClient({ responses: [typeof reply === 'string' ? { text: reply } : reply] });
  const plan = await planWithModel({ client, model: 'claude-test', catalog, task: { description: REGISTRATION, requirements } });
  return { plan, client };
}

describe('planWithModel', () => {
  it('sends the router prompt with the domain list, and the task as the user message', async () => {
    const { client } = await planWith('{"steps":[{"domain":"backend","description":"x","depends_on":[]}]}', ['Use bcrypt']);
    const request = client.calls[0];
    expect(request?.model).toBe('claude-test');
    const system = request?.system?.map((block) => block.text).join('') ?? '';
    expect(system).toContain('dan-router');
    expect(system).toContain(catalog.router.prompt);
    for (const domain of catalog.domains) expect(system).toContain(`- ${domain.name}: ${domain.description}`);
    expect(request?.messages).toEqual([{ role: 'user', content: `Task: ${REGISTRATION}\n\nRequirements:\n- Use bcrypt` }]);
  });

  it('uses a valid plan, reordered so dependencies come first, with requirements spread', async () => {
    const answer = [
      'Here is the plan:',
      '```json',
      JSON.stringify({
        steps: [
          { domain: 'frontend', description: 'A signup form posting to POST /api/users', depends_on: ['backend'] },
          { domain: 'backend', description: 'POST /api/users storing the user', depends_on: [] },
        ],
      }),
      '```',
    ].join('\n');
    const { plan } = await planWith(answer, ['Hash passwords with bcrypt', 'Ship it today']);
    expect(plan.strategy).toBe('llm');
    expect(plan.steps).toEqual([
      { domain: 'backend', description: 'POST /api/users storing the user', dependsOn: [], requirements: ['Hash passwords with bcrypt', 'Ship it today'] },
      { domain: 'frontend', description: 'A signup form posting to POST /api/users', dependsOn: ['backend'], requirements: ['Ship it today'] },
    ]);
    expect(plan.reason).toBe('planned by the model: backend -> frontend');
    expect(Object.keys(plan.scores).sort()).toEqual(['backend', 'devops', 'farm', 'frontend']);
  });

  it('accepts a step without depends_on', async () => {
    const { plan } = await planWith('{"steps":[{"domain":"devops","description":"Add a Dockerfile"}]}');
    expect(plan.strategy).toBe('llm');
    expect(plan.steps).toEqual([{ domain: 'devops', description: 'Add a Dockerfile', dependsOn: [], requirements: [] }]);
  });

  const keywordSteps = [
    { domain: 'backend', description: 'Add user registration: a POST /api/users endpoint', dependsOn: [], requirements: [] },
    { domain: 'frontend', description: 'Add user registration: a signup form', dependsOn: ['backend'], requirements: [] },
  ];

  it.each([
    ['invalid JSON', 'Sure! {"steps": [', /^model plan unusable \(the answer is not valid JSON/],
    ['no JSON at all', 'I would send this to the backend.', /^model plan unusable \(the answer has no JSON object/],
    ['an unknown domain', '{"steps":[{"domain":"mobile","description":"x","depends_on":[]}]}', /^model plan unusable \(unknown domain 'mobile'; known: backend, devops, farm, frontend\)/],
    ['a dependency outside the plan', '{"steps":[{"domain":"frontend","description":"x","depends_on":["backend"]}]}', /depends on 'backend', which is not in the plan/],
    ['a duplicate domain', '{"steps":[{"domain":"backend","description":"x"},{"domain":"backend","description":"y"}]}', /domain 'backend' appears in two steps/],
    [
      'a cycle',
      '{"steps":[{"domain":"backend","description":"x","depends_on":["frontend"]},{"domain":"frontend","description":"y","depends_on":["backend"]}]}',
      /^model plan unusable \(the dependencies form a cycle/,
    ],
    ['no steps', '{"steps":[]}', /^model plan unusable \("steps" is empty\)/],
    ['a step without a description', '{"steps":[{"domain":"backend"}]}', /each step needs a "description"/],
  ])('falls back to keyword routing on %s, naming the problem', async (_what, reply, reason) => {
    const { plan } = await planWith(reply);
    expect(plan.strategy).toBe('fallback');
    expect(plan.reason).toMatch(reason);
    expect(plan.reason).toContain('; keyword routing: backend');
    expect(plan.steps).toEqual(keywordSteps);
  });

  it('falls back when the model call fails', async () => {
    const { plan } = await planWith(new Error('529 overloaded'));
    expect(plan.strategy).toBe('fallback');
    expect(plan.reason).toMatch(/^model plan unusable \(the model call failed: 529 overloaded\)/);
    expect(plan.steps).toEqual(keywordSteps);
  });

  it('rethrows when the caller cancelled the call', async () => {
    const controller = new AbortController();
    controller.abort();
    // With the signal already aborted, ScriptedLlmClient throws LlmError.aborted before reading its script.
    const client = new ScriptedLlmClient({ responses: [] });
    await expect(planWithModel({ client, model: 'm', catalog, task: { description: REGISTRATION }, signal: controller.signal })).rejects.toThrow('aborted');
  });
});
