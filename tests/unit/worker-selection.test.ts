import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import type { DomainDefinition, WorkerDefinition } from '../../lib/agents/agent-definitions.js';
import { ScriptedLlmClient } from '../../lib/llm/scripted-llm-client.js';
import { selectWorkers, selectWorkersWithModel, withTesters } from '../../src/domain/worker-selection.js';

const catalog = loadAgentCatalog(path.resolve(import.meta.dirname, '../../agents'));

function domainNamed(name: string): DomainDefinition {
  const domain = catalog.domain(name);
  if (domain === undefined) throw new Error(`no ${name} domain in agents/`);
  return domain;
}

const backend = domainNamed('backend');
const frontend = domainNamed('frontend');
const devops = domainNamed('devops');
const names = (waves: WorkerDefinition[][]) => waves.map((wave) => wave.map((worker) => worker.name));

describe('selectWorkers', () => {
  it('runs the db worker before the api worker that uses its table', () => {
    const selection = selectWorkers({ description: 'Add a users table and a POST /api/users endpoint' }, backend, 3);
    expect(names(selection.waves)).toEqual([['db'], ['api']]);
    expect(selection.workers.map((w) => w.name)).toEqual(['db', 'api']);
    expect(selection.strategy).toBe('score');
    expect(selection.reason).toMatch(/^keyword selection: api \(.*endpoint.*\), db \(table\)$/);
  });

  it('orders db, auth and api in three waves when all three are needed', () => {
    const selection = selectWorkers(
      { description: 'Add login: a sessions table, password hashing with bcrypt, and a POST /api/login endpoint' },
      backend,
      3,
    );
    expect(names(selection.waves)).toEqual([['db'], ['auth'], ['api']]);
  });

  it('puts workers with no order between them in one wave', () => {
    const selection = selectWorkers({ description: 'Add a Dockerfile and a Terraform module for the load balancer' }, devops, 3);
    expect(names(selection.waves)).toEqual([['docker'], ['infra']]);
    const styling = selectWorkers({ description: 'Give the signup form accessible labels' }, frontend, 3);
    expect(names(styling.waves)).toEqual([['react'], ['a11y']]);
  });

  it('uses only the best workers when the cap is lower than the matches', () => {
    const selection = selectWorkers(
      { description: 'Add login: a sessions table, password hashing with bcrypt, and a POST /api/login endpoint' },
      backend,
      1,
    );
    expect(selection.workers).toHaveLength(1);
    expect(selection.reason).toMatch(/; capped at 1, dropped /);
  });

  it('reads the requirements too', () => {
    const selection = selectWorkers({ description: 'Improve the signup page', requirements: ['Works in dark mode'] }, frontend, 3);
    expect(selection.workers.map((w) => w.name)).toContain('css');
  });

  it("uses the domain's default worker when nothing matches", () => {
    const selection = selectWorkers({ description: 'Tidy things up' }, devops, 3);
    expect(names(selection.waves)).toEqual([['docker']]);
    expect(selection.strategy).toBe('fallback');
    expect(selection.reason).toBe("no worker keyword matched; using the default worker 'docker'");
    expect(selection.scores).toEqual({ ci: 0, docker: 0, infra: 0 });
  });
});

describe('selectWorkersWithModel', () => {
  const task = { description: 'Add a users table and a POST /api/users endpoint', requirements: ['Emails are unique'] };

  async function selectWith(reply: string | Error, maxWorkers = 3) {
    const client = new ScriptedLlmClient({ responses: [typeof reply === 'string' ? { text: reply } : reply] });
    const selection = await selectWorkersWithModel({ client, model: 'claude-test', domain: backend, task, maxWorkers });
    return { selection, client };
  }

  it('asks with the selector marker and the worker list, and uses a valid answer in dependency order', async () => {
    const { selection, client } = await selectWith('```json\n{"workers": ["api", "db"]}\n```');
    const system = client.calls[0]?.system?.map((block) => block.text).join('') ?? '';
    expect(system).toContain('dan-worker-selector');
    // The workers a task picks; the tester joins every task and the reviewer judges it, so neither is offered.
    for (const worker of backend.workers.filter((w) => w.role === 'coder')) expect(system).toContain(`- ${worker.name}: ${worker.description}`);
    expect(system).not.toMatch(/^- (tester|reviewer):/m);
    expect(client.calls[0]?.messages[0]?.content).toBe(`Task: ${task.description}\n\nRequirements:\n- Emails are unique`);
    expect(selection.strategy).toBe('llm');
    expect(names(selection.waves)).toEqual([['db'], ['api']]);
    expect(selection.reason).toBe('chosen by the model: api, db');
  });

  it('keeps at most maxWorkers of the answer', async () => {
    const { selection } = await selectWith('{"workers": ["auth", "api", "db"]}', 2);
    expect(selection.workers.map((w) => w.name)).toEqual(['auth', 'api']);
    expect(selection.reason).toBe('chosen by the model: auth, api; capped at 2, dropped db');
  });

  it.each([
    ['invalid JSON', '{"workers": [api]}', /^model selection unusable \(the answer is not valid JSON/],
    ['an unknown worker', '{"workers": ["api", "cache"]}', /^model selection unusable \(unknown worker 'cache'; known: api, auth, db\)/],
    ['an empty list', '{"workers": []}', /^model selection unusable \("workers" is empty\)/],
    ['the wrong shape', '{"pick": "api"}', /^model selection unusable \("workers" must be a list of worker names\)/],
  ])('falls back to keywords on %s, naming the problem', async (_what, reply, reason) => {
    const { selection } = await selectWith(reply);
    expect(selection.strategy).toBe('fallback');
    expect(selection.reason).toMatch(reason);
    expect(selection.reason).toContain('; keyword selection: ');
    expect(names(selection.waves)).toEqual([['db'], ['api']]);
  });

  it('falls back when the model call fails', async () => {
    const { selection } = await selectWith(new Error('connection refused'));
    expect(selection.strategy).toBe('fallback');
    expect(selection.reason).toMatch(/^model selection unusable \(the model call failed: connection refused\)/);
  });
});

describe('roles in a selection', () => {
  it("never picks the domain's tester or reviewer by keywords, and adds the tester as the last wave", () => {
    const task = { description: 'Add tests and a review of a POST /api/users endpoint' };
    const picked = selectWorkers(task, backend, 3);
    expect(picked.workers.map((w) => w.role)).not.toContain('reviewer');
    expect(picked.workers.map((w) => w.role)).not.toContain('tester');
    const selection = withTesters(picked, backend);
    expect(names(selection.waves)).toEqual([...names(picked.waves), ['tester']]);
    expect(selection.reason).toMatch(/; testers last: tester$/);
  });

  it('leaves a selection of a domain without testers as it was', () => {
    const farm = domainNamed('farm');
    const picked = selectWorkers({ description: 'anything' }, farm, 3);
    expect(withTesters(picked, farm)).toEqual(picked);
  });
});
