import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import type { AgentCatalog, DomainDefinition } from '../../lib/agents/agent-definitions.js';
import { stem, tokenize } from '../../lib/agents/keyword-score.js';
import { planTask } from '../../src/main/scoring-router.js';

const catalog = loadAgentCatalog(path.resolve(import.meta.dirname, '../../agents'));
const route = (description: string, requirements: string[] = []) => planTask({ description, requirements }, catalog);

describe('planTask with the shipped domains', () => {
  it('splits a task with a shared head into backend then frontend', () => {
    const plan = route('Add user registration: a POST /api/users endpoint and a signup form');
    expect(plan.strategy).toBe('score');
    expect(plan.steps).toEqual([
      { domain: 'backend', description: 'Add user registration: a POST /api/users endpoint', dependsOn: [], requirements: [] },
      { domain: 'frontend', description: 'Add user registration: a signup form', dependsOn: ['backend'], requirements: [] },
    ]);
    expect(plan.reason).toMatch(/^keyword routing: backend \(.*endpoint.*\), frontend \(.*signup form.*\)$/);
  });

  it('sends a health endpoint to the backend only', () => {
    const plan = route('Create a health endpoint');
    expect(plan.steps).toEqual([{ domain: 'backend', description: 'Create a health endpoint', dependsOn: [], requirements: [] }]);
  });

  it('sends containers and pipelines to devops only, as one step', () => {
    const plan = route('Dockerize the app and add a CI pipeline');
    expect(plan.steps).toEqual([{ domain: 'devops', description: 'Dockerize the app and add a CI pipeline', dependsOn: [], requirements: [] }]);
  });

  it('sends a login form with accessible labels to the frontend', () => {
    const plan = route('Build login form with accessible labels');
    expect(plan.steps.map((s) => s.domain)).toEqual(['frontend']);
    expect(plan.scores['frontend']).toBeGreaterThan(plan.scores['backend'] ?? 0);
  });

  it('keeps the context of a clause cut from a sentence without a head', () => {
    const plan = route('Create user registration with API endpoint and form component');
    expect(plan.steps).toEqual([
      { domain: 'backend', description: 'Create user registration with API endpoint', dependsOn: [], requirements: [] },
      {
        domain: 'frontend',
        description: 'form component (part of: Create user registration with API endpoint and form component)',
        dependsOn: ['backend'],
        requirements: [],
      },
    ]);
  });

  it('orders three domains by their after lists, whatever order the text names them in', () => {
    const plan = route('Deploy it to Kubernetes with Helm. Add a settings page. Add a users table and a POST /api/users endpoint.');
    expect(plan.steps.map((s) => [s.domain, s.dependsOn])).toEqual([
      ['backend', []],
      ['frontend', ['backend']],
      ['devops', ['backend', 'frontend']],
    ]);
    expect(plan.steps[0]?.description).toBe('Add a users table and a POST /api/users endpoint.');
    expect(plan.steps[2]?.description).toBe('Deploy it to Kubernetes with Helm.');
  });

  it('reads a bulleted task, keeping the line above the bullets as context', () => {
    const plan = route('Add comments to posts:\n- a comments table with a foreign key to posts\n- a comment form under each post');
    expect(plan.steps.map((s) => [s.domain, s.description])).toEqual([
      ['backend', 'Add comments to posts: a comments table with a foreign key to posts'],
      ['frontend', 'Add comments to posts: a comment form under each post'],
    ]);
  });

  it('gives a clause that matches nothing to the clause before it', () => {
    const plan = route('Add dark mode to the settings page, and keep the bundle small');
    expect(plan.steps).toHaveLength(1);
    expect(plan.steps[0]?.description).toBe('Add dark mode to the settings page, and keep the bundle small');
  });

  it('spreads requirements to the domain they match and general ones to every step', () => {
    const plan = route('Add user registration: a POST /api/users endpoint and a signup form', [
      'Store passwords with bcrypt',
      'The form shows an error next to each invalid field',
      'Keep it small',
    ]);
    expect(plan.steps.map((s) => [s.domain, s.requirements])).toEqual([
      ['backend', ['Store passwords with bcrypt', 'Keep it small']],
      ['frontend', ['The form shows an error next to each invalid field', 'Keep it small']],
    ]);
  });

  it('adds a domain that only a requirement names, with the task as context', () => {
    const plan = route('Create a health endpoint', ['Add a Dockerfile with a health check']);
    expect(plan.steps.map((s) => s.domain)).toEqual(['backend', 'devops']);
    expect(plan.steps[1]).toEqual({
      domain: 'devops',
      description: 'Add a Dockerfile with a health check (part of: Create a health endpoint)',
      dependsOn: ['backend'],
      requirements: ['Add a Dockerfile with a health check'],
    });
  });

  it('sends a task that matches nothing whole to the fallback domain and says so', () => {
    const plan = route('Write a haiku about autumn', ['short']);
    expect(plan.strategy).toBe('fallback');
    expect(plan.steps).toEqual([{ domain: 'backend', description: 'Write a haiku about autumn', dependsOn: [], requirements: ['short'] }]);
    expect(plan.reason).toBe("no domain keyword matched the task; sent whole to the fallback domain 'backend'");
    expect(plan.scores).toEqual({ backend: 0, devops: 0, farm: 0, frontend: 0 });
  });
});

describe('planTask with a hand-made catalog', () => {
  const domain = (name: string, keywords: string[], after: string[] = []): DomainDefinition => ({
    name, description: `${name} work`, keywords, after, fallback: false, container: {}, prompt: 'x', file: `${name}/domain.md`, workers: [],
  });

  function catalogOf(domains: DomainDefinition[]): AgentCatalog {
    const byName = new Map(domains.map((d) => [d.name, d]));
    return {
      dir: '/agents',
      router: { name: 'main', description: 'router', prompt: 'dan-router', file: 'main/router.md' },
      domains,
      fallback: domains[0] as DomainDefinition,
      domain: (name) => byName.get(name),
    };
  }

  it('ignores an after edge that would close a cycle and says so', () => {
    const cyclic = catalogOf([domain('alpha', ['alpha'], ['beta']), domain('beta', ['beta'], ['alpha'])]);
    const plan = planTask({ description: 'Do the alpha part and the beta part' }, cyclic);
    expect(plan.steps.map((s) => [s.domain, s.dependsOn])).toEqual([
      ['beta', []],
      ['alpha', ['beta']],
    ]);
    expect(plan.reason).toContain('ignored cyclic ordering beta after alpha');
  });

  it('weighs a phrase above its single words', () => {
    const both = catalogOf([domain('words', ['dark', 'mode']), domain('phrase', ['dark mode'])]);
    expect(planTask({ description: 'Support dark mode' }, both).steps.map((s) => s.domain)).toEqual(['phrase']);
  });

  it('ignores after edges to domains that are not in the plan', () => {
    const partial = catalogOf([domain('alpha', ['alpha'], ['beta']), domain('beta', ['beta'])]);
    expect(planTask({ description: 'Only the alpha part' }, partial).steps).toEqual([
      { domain: 'alpha', description: 'Only the alpha part', dependsOn: [], requirements: [] },
    ]);
  });
});

describe('tokenising', () => {
  it('meets plurals, -ing and -ed forms at one stem', () => {
    expect(stem('endpoints')).toBe(stem('endpoint'));
    expect(stem('queries')).toBe(stem('query'));
    expect(stem('styling')).toBe(stem('style'));
    expect(stem('deployed')).toBe(stem('deploy'));
    expect(stem('running')).toBe('run');
    expect(stem('adding')).toBe('add');
    expect(stem('css')).toBe('css');
    expect(stem('status')).toBe('status');
  });

  it('splits paths and punctuation into words', () => {
    expect(tokenize('POST /api/users, CI/CD!')).toEqual(['post', 'api', 'user', 'ci', 'cd']);
  });
});
