import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { AgentDefinitionError } from '../../lib/agents/front-matter.js';
import { planTask } from '../../src/main/scoring-router.js';
import { selectWorkers } from '../../src/domain/worker-selection.js';

const REAL_AGENTS = path.resolve(import.meta.dirname, '../../agents');
const temps: string[] = [];

/** A private copy of the real agents/ folder that a test may change. */
function copyOfAgents(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-agents-'));
  temps.push(dir);
  cpSync(REAL_AGENTS, dir, { recursive: true });
  return dir;
}

function write(dir: string, relative: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
  writeFileSync(path.join(dir, relative), text);
}

function loadError(dir: string): AgentDefinitionError {
  try {
    loadAgentCatalog(dir);
  } catch (error) {
    expect(error).toBeInstanceOf(AgentDefinitionError);
    return error as AgentDefinitionError;
  }
  throw new Error('expected the catalog to be rejected');
}

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the shipped agents/ folder', () => {
  const catalog = loadAgentCatalog(REAL_AGENTS);

  it('has the router, four domains and ten workers, and a tester and a reviewer in each of three', () => {
    expect(catalog.router.name).toBe('main');
    expect(catalog.router.prompt).toContain('dan-router');
    expect(catalog.router.prompt).toContain('"depends_on"');
    expect(catalog.domains.map((d) => d.name)).toEqual(['backend', 'devops', 'farm', 'frontend']);
    expect(Object.fromEntries(catalog.domains.map((d) => [d.name, d.workers.map((w) => w.name)]))).toEqual({
      backend: ['api', 'auth', 'db', 'reviewer', 'tester'],
      devops: ['ci', 'docker', 'infra', 'reviewer', 'tester'],
      farm: ['agent'],
      frontend: ['a11y', 'css', 'react', 'reviewer', 'tester'],
    });
    for (const name of ['backend', 'devops', 'frontend']) {
      const roles = catalog.domain(name)?.workers.map((w) => [w.name, w.role]);
      expect(roles).toEqual(expect.arrayContaining([['tester', 'tester'], ['reviewer', 'reviewer'], ['api', 'coder']].filter(([w]) => w !== 'api' || name === 'backend')));
    }
  });

  it('orders domains and workers as the product expects', () => {
    expect(catalog.fallback.name).toBe('backend');
    expect(catalog.domain('frontend')?.after).toEqual(['backend']);
    expect(catalog.domain('devops')?.after).toEqual(['backend', 'frontend']);
    const backend = catalog.domain('backend');
    expect(backend?.workers.find((w) => w.name === 'api')?.after).toContain('db');
    expect(backend?.workers.find((w) => w.name === 'auth')?.after).toEqual(['db']);
    const defaults = catalog.domains.map((d) => d.workers.find((w) => w.isDefault)?.name);
    expect(defaults).toEqual(['api', 'docker', 'agent', 'react']);
    expect(catalog.domain('farm')?.handler).toBe('farm');
    expect(catalog.domain('backend')?.handler).toBe('workers');
  });

  it('gives every worker tools and a model alias, those picked by the task keywords, and those that work a prompt that asks for the JSON report', () => {
    for (const domain of catalog.domains) {
      expect(domain.keywords.length).toBeGreaterThan(10);
      expect(domain.prompt).toMatch(/files_created/);
      for (const worker of domain.workers) {
        expect(worker.tools.length).toBeGreaterThan(0);
        expect(['sonnet', 'opus', 'haiku']).toContain(worker.model);
        // Testers join every task and the reviewer judges it (src/domain/review-step.ts asks it for a verdict instead).
        if (worker.role === 'coder' || worker.role === 'docs') expect(worker.keywords.length).toBeGreaterThan(5);
        if (worker.role !== 'reviewer') expect(worker.prompt).toContain('"files_created"');
        if (worker.role !== 'reviewer') expect(worker.prompt).toContain('"files_modified"');
        expect(worker.file).toBe(path.join(REAL_AGENTS, domain.name, 'workers', `${worker.name}.md`));
      }
    }
  });

  it('returns undefined for a domain it does not have, and never treats main as a domain', () => {
    expect(catalog.domain('main')).toBeUndefined();
    expect(catalog.domain('mobile')).toBeUndefined();
  });
});

describe('adding a domain is adding a folder', () => {
  it('routes to a new domain and picks its worker with no code naming it', () => {
    const dir = copyOfAgents();
    write(dir, 'mobile/domain.md', [
      '---',
      'name: mobile',
      'description: Native mobile apps for iOS and Android',
      'keywords: [ios, android, swift, kotlin, mobile app, screen]',
      'after: [backend]',
      '---',
      'This is the mobile domain. Its orchestrator hands native app work to its workers.',
    ].join('\n'));
    write(dir, 'mobile/workers/swiftui.md', [
      '---',
      'name: swiftui',
      'description: SwiftUI screens and navigation for the iOS app',
      'tools: Read, Write, Edit, Glob, Grep, Bash',
      'model: sonnet',
      'keywords:',
      '  - ios',
      '  - swiftui',
      '  - screen',
      'default: true',
      '---',
      'You build SwiftUI screens. Finish with {"summary": ..., "files_created": [...], "files_modified": [...], "notes": ...}.',
    ].join('\n'));

    const catalog = loadAgentCatalog(dir);
    expect(catalog.domains.map((d) => d.name)).toEqual(['backend', 'devops', 'farm', 'frontend', 'mobile']);

    const plan = planTask({ description: 'Build an iOS screen for the profile' }, catalog);
    expect(plan.steps.map((s) => s.domain)).toEqual(['mobile']);
    expect(plan.steps[0]?.description).toBe('Build an iOS screen for the profile');

    const mobile = catalog.domain('mobile');
    expect(mobile).toBeDefined();
    if (mobile === undefined) return;
    expect(selectWorkers({ description: 'Build an iOS screen for the profile' }, mobile, 3).workers.map((w) => w.name)).toEqual(['swiftui']);
  });

  it('ignores folders starting with . or _ (drafts and hidden folders)', () => {
    const dir = copyOfAgents();
    write(dir, '_draft/domain.md', 'not even front matter');
    write(dir, '.cache/whatever.md', 'x');
    write(dir, 'backend/workers/_notes.md', 'not a worker');
    write(dir, 'README.md', 'a file at the top level is not a domain');
    const catalog = loadAgentCatalog(dir);
    expect(catalog.domains.map((d) => d.name)).toEqual(['backend', 'devops', 'farm', 'frontend']);
    expect(catalog.domain('backend')?.workers.map((w) => w.name)).toEqual(['api', 'auth', 'db', 'reviewer', 'tester']);
  });
});

describe('loader errors name the file, the field and the fix', () => {
  it('rejects an unknown tool name', () => {
    const dir = copyOfAgents();
    const file = path.join(dir, 'backend/workers/db.md');
    writeFileSync(file, readFileSync(file, 'utf8').replace('tools: [Read, Write, Edit, Glob, Grep, Bash]', 'tools: [Read, Run]'));
    const error = loadError(dir);
    expect(error.file).toMatch(/backend\/workers\/db\.md$/);
    expect(error.line).toBe(4);
    expect(error.message).toContain(`field 'tools' item 2 ("Run") must be one of Read, Write, Edit, Glob, Grep, Bash`);
  });

  it('rejects a folder name that is not a safe domain name', () => {
    const dir = copyOfAgents();
    write(dir, 'Mobile Apps/domain.md', '---\nname: Mobile Apps\ndescription: x\n---\nbody');
    const error = loadError(dir);
    expect(error.message).toContain("folder name 'Mobile Apps' is not a usable domain name");
    expect(error.message).toContain("start it with '_' to have it ignored");
  });

  it('rejects a domain folder without domain.md', () => {
    const dir = copyOfAgents();
    write(dir, 'mobile/workers/swiftui.md', '---\nname: swiftui\ndescription: x\ntools: [Read]\n---\nbody');
    const error = loadError(dir);
    expect(error.file).toMatch(/mobile\/domain\.md$/);
    expect(error.message).toContain("domain folder 'mobile' has no domain.md: create it with 'name: mobile'");
  });

  it('rejects a front-matter name that does not match the folder or the file', () => {
    const dir = copyOfAgents();
    const domainFile = path.join(dir, 'frontend/domain.md');
    writeFileSync(domainFile, readFileSync(domainFile, 'utf8').replace('name: frontend', 'name: front'));
    expect(loadError(dir).message).toMatch(/frontend\/domain\.md:2: field 'name' is 'front' but the folder is 'frontend': they must match/);

    const other = copyOfAgents();
    const workerFile = path.join(other, 'frontend/workers/css.md');
    writeFileSync(workerFile, readFileSync(workerFile, 'utf8').replace('name: css', 'name: styles'));
    expect(loadError(other).message).toMatch(/css\.md:2: field 'name' is 'styles' but the file is 'css\.md'/);
  });

  it('rejects an after that names no domain or no worker', () => {
    const dir = copyOfAgents();
    const domainFile = path.join(dir, 'frontend/domain.md');
    writeFileSync(domainFile, readFileSync(domainFile, 'utf8').replace('after: [backend]', 'after: [backend, design]'));
    expect(loadError(dir).message).toContain("field 'after' names 'design', which is not a domain: use one of backend, devops");

    const other = copyOfAgents();
    const workerFile = path.join(other, 'backend/workers/auth.md');
    writeFileSync(workerFile, readFileSync(workerFile, 'utf8').replace('after: [db]', 'after: [database]'));
    expect(loadError(other).message).toContain("field 'after' names 'database', which is not a worker of 'backend': use one of api, db");
  });

  it('rejects missing and unknown fields', () => {
    const dir = copyOfAgents();
    write(dir, 'mobile/domain.md', '---\nname: mobile\nkeyword: [ios]\n---\nbody');
    write(dir, 'mobile/workers/swiftui.md', '---\nname: swiftui\ndescription: x\ntools: [Read]\n---\nbody');
    const message = loadError(dir).message;
    expect(message).toContain("field 'description' is missing: add 'description: ...' to the front matter");
    expect(message).toContain("(line 3) unknown field 'keyword'");
  });

  it('rejects a domain without workers, two fallbacks, and a missing router', () => {
    const noWorkers = copyOfAgents();
    write(noWorkers, 'mobile/domain.md', '---\nname: mobile\ndescription: Mobile apps\n---\nbody');
    expect(loadError(noWorkers).message).toContain("domain 'mobile' has no workers");

    const twoFallbacks = copyOfAgents();
    const devops = path.join(twoFallbacks, 'devops/domain.md');
    writeFileSync(devops, readFileSync(devops, 'utf8').replace('after: [backend, frontend]', 'after: [backend, frontend]\nfallback: true'));
    expect(loadError(twoFallbacks).message).toContain("only one domain may be the fallback, but backend and devops both say 'fallback: true'");

    const noRouter = copyOfAgents();
    rmSync(path.join(noRouter, 'main'), { recursive: true });
    expect(loadError(noRouter).message).toMatch(/main\/router\.md: the router definition is missing/);
  });

  it('rejects a role it does not know, two reviewers in a domain, and a domain with nobody to do the work', () => {
    const unknownRole = copyOfAgents();
    const tester = path.join(unknownRole, 'backend/workers/tester.md');
    writeFileSync(tester, readFileSync(tester, 'utf8').replace('role: tester', 'role: auditor'));
    expect(loadError(unknownRole).message).toMatch(/tester\.md.*field 'role' must be one of coder, tester, reviewer, docs/);

    const twoReviewers = copyOfAgents();
    const second = path.join(twoReviewers, 'backend/workers/tester.md');
    writeFileSync(second, readFileSync(second, 'utf8').replace('role: tester', 'role: reviewer'));
    expect(loadError(twoReviewers).message).toContain("only one worker of 'backend' may be its reviewer, but reviewer and tester both say 'role: reviewer'");

    const noCoder = copyOfAgents();
    write(noCoder, 'mobile/domain.md', '---\nname: mobile\ndescription: Mobile apps\n---\nbody');
    write(noCoder, 'mobile/workers/reviewer.md', '---\nname: reviewer\ndescription: Reviews\ntools: [Read]\nrole: reviewer\n---\nReview.');
    expect(loadError(noCoder).message).toContain("domain 'mobile' has no worker to do its tasks: give one worker 'role: coder' (or no role)");
  });

  it('says how to fix a missing agents folder', () => {
    expect(() => loadAgentCatalog('/nonexistent/agents')).toThrow(/agent definitions folder not found: \/nonexistent\/agents: set DAN_AGENTS_DIR/);
  });
});
