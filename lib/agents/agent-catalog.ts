import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DanError } from '../errors.js';
import { isSafeDomainName } from '../protocol/agent.js';
import {
  domainFieldsSchema,
  parseMemorySize,
  routerFieldsSchema,
  validateFields,
  workerFieldsSchema,
  type AgentCatalog,
  type DomainDefinition,
  type RouterDefinition,
  type WorkerDefinition,
} from './agent-definitions.js';
import { kindOf } from './domain-kinds.js';
import { AgentDefinitionError, parseFrontMatter } from './front-matter.js';

/** The folder of the main orchestrator's router; every other folder is a domain. */
export const ROUTER_FOLDER = 'main';
const SAFE_NAME_HINT = 'use lowercase letters, digits and dashes, starting with a letter, at most 40 characters';

/**
 * Reads every agent definition under `agentsDir` once, at start-up: `main/router.md` for the router
 * and one folder per domain (`<domain>/domain.md` plus `<domain>/workers/*.md`). Adding a domain is
 * adding a folder; folders starting with `.` or `_` are skipped, so a draft can sit next to the real
 * ones. Any problem throws an `AgentDefinitionError` naming the file, the field and the fix, so a
 * broken definition stops the network at start-up instead of misrouting tasks later.
 */
export function loadAgentCatalog(agentsDir: string): AgentCatalog {
  const dir = path.resolve(agentsDir);
  if (!isDirectory(dir)) {
    throw new DanError(
      'agents_dir_missing',
      `agent definitions folder not found: ${dir}: set DAN_AGENTS_DIR to a folder holding main/router.md and one folder per domain`,
    );
  }

  const router = loadRouter(path.join(dir, ROUTER_FOLDER, 'router.md'));
  const allDomains = visibleEntries(dir)
    .filter((name) => name !== ROUTER_FOLDER && isDirectory(path.join(dir, name)))
    .map((name) => loadDomain(path.join(dir, name), name));
  const domains = allDomains.filter((domain) => kindOf(domain).routed);
  if (domains.length === 0) {
    throw new AgentDefinitionError(display(dir), undefined, 'no domain folders: add one such as backend/domain.md with backend/workers/api.md');
  }
  checkDomainLinks(allDomains);

  const byName = new Map(allDomains.map((domain) => [domain.name, domain]));
  const marked = domains.filter((domain) => domain.fallback);
  if (marked.length > 1) {
    throw new AgentDefinitionError(
      display(marked[1]?.file ?? dir),
      undefined,
      `field 'fallback': only one domain may be the fallback, but ${marked.map((d) => d.name).join(' and ')} both say 'fallback: true'`,
    );
  }
  const fallback = marked[0] ?? byName.get('backend') ?? (domains[0] as DomainDefinition);
  return { dir, router, domains, allDomains, fallback, domain: (name) => byName.get(name) };
}

function loadRouter(file: string): RouterDefinition {
  if (!existsSync(file)) {
    throw new AgentDefinitionError(display(file), undefined, `the router definition is missing: create it with 'name: ${ROUTER_FOLDER}', a description, and the router's system prompt as its body`);
  }
  const frontMatter = parseFrontMatter(readFileSync(file, 'utf8'), display(file));
  const fields = validateFields(routerFieldsSchema, frontMatter, display(file));
  if (fields.name !== ROUTER_FOLDER) {
    throw new AgentDefinitionError(display(file), frontMatter.lines['name'], `field 'name' is '${fields.name}' but the router must be named '${ROUTER_FOLDER}'`);
  }
  requireBody(frontMatter.body, file, 'the router system prompt');
  const router: RouterDefinition = { name: fields.name, description: fields.description, prompt: frontMatter.body, file };
  if (fields.model !== undefined) router.model = fields.model;
  return router;
}

function loadDomain(folder: string, name: string): DomainDefinition {
  if (!isSafeDomainName(name)) {
    throw new AgentDefinitionError(display(folder), undefined, `folder name '${name}' is not a usable domain name: ${SAFE_NAME_HINT}; or start it with '_' to have it ignored`);
  }
  const file = path.join(folder, 'domain.md');
  if (!existsSync(file)) {
    throw new AgentDefinitionError(display(file), undefined, `domain folder '${name}' has no domain.md: create it with 'name: ${name}', a description and keywords, or start the folder name with '_' to have it ignored`);
  }
  const frontMatter = parseFrontMatter(readFileSync(file, 'utf8'), display(file));
  const fields = validateFields(domainFieldsSchema, frontMatter, display(file));
  if (fields.name !== name) {
    throw new AgentDefinitionError(display(file), frontMatter.lines['name'], `field 'name' is '${fields.name}' but the folder is '${name}': they must match (rename one of them)`);
  }
  requireBody(frontMatter.body, file, "the domain orchestrator's instructions");
  const workers = kindOf({ handler: fields.handler }).hasWorkers
    ? loadWorkers(path.join(folder, 'workers'), name)
    : noWorkers(path.join(folder, 'workers'), name, fields.handler);
  const domain: DomainDefinition = {
    name,
    description: fields.description,
    keywords: fields.keywords,
    after: fields.after,
    fallback: fields.fallback,
    handler: fields.handler,
    container: {
      ...(fields.container_memory !== undefined ? { memoryBytes: parseMemorySize(fields.container_memory) } : {}),
      ...(fields.container_cpus !== undefined ? { cpus: fields.container_cpus } : {}),
      ...(fields.container_pids !== undefined ? { pids: fields.container_pids } : {}),
    },
    prompt: frontMatter.body,
    file,
    workers,
  };
  if (fields.model !== undefined) domain.model = fields.model;
  if (fields.verify.length > 0) domain.verify = fields.verify;
  if (fields.approval) domain.approval = true;
  return domain;
}

function loadWorkers(folder: string, domain: string): WorkerDefinition[] {
  const files = isDirectory(folder) ? visibleEntries(folder).filter((entry) => entry.endsWith('.md')) : [];
  if (files.length === 0) {
    throw new AgentDefinitionError(display(folder), undefined, `domain '${domain}' has no workers: add at least one worker file such as ${domain}/workers/<name>.md`);
  }
  const workers = files.map((entry) => loadWorker(path.join(folder, entry), entry.slice(0, -'.md'.length)));
  const defaults = workers.filter((worker) => worker.isDefault);
  if (defaults.length > 1) {
    throw new AgentDefinitionError(
      display(defaults[1]?.file ?? folder),
      undefined,
      `field 'default': only one worker of '${domain}' may be the default, but ${defaults.map((w) => w.name).join(' and ')} both say 'default: true'`,
    );
  }
  const reviewers = workers.filter((worker) => worker.role === 'reviewer');
  if (reviewers.length > 1) {
    throw new AgentDefinitionError(
      display(reviewers[1]?.file ?? folder), undefined,
      `field 'role': only one worker of '${domain}' may be its reviewer, but ${reviewers.map((w) => w.name).join(' and ')} both say 'role: reviewer'`,
    );
  }
  if (!workers.some((worker) => worker.role === 'coder' || worker.role === 'docs')) {
    throw new AgentDefinitionError(display(folder), undefined, `domain '${domain}' has no worker to do its tasks: give one worker 'role: coder' (or no role)`);
  }
  const names = new Set(workers.map((worker) => worker.name));
  for (const worker of workers) {
    for (const before of worker.after) {
      if (before === worker.name || !names.has(before)) {
        throw new AgentDefinitionError(
          display(worker.file),
          undefined,
          `field 'after' names '${before}', which is not ${before === worker.name ? 'another' : 'a'} worker of '${domain}': use one of ${[...names].filter((n) => n !== worker.name).join(', ') || '(no other workers)'}`,
        );
      }
    }
  }
  return workers;
}

/** A kind that runs no workers (the memory) refuses a workers folder rather than ignoring it. */
function noWorkers(folder: string, domain: string, kind: string): WorkerDefinition[] {
  if (isDirectory(folder) && visibleEntries(folder).some((entry) => entry.endsWith('.md'))) {
    throw new AgentDefinitionError(display(folder), undefined, `domain '${domain}' is of kind '${kind}', which runs no workers: remove ${domain}/workers, or change its 'handler'`);
  }
  return [];
}

function loadWorker(file: string, name: string): WorkerDefinition {
  if (!isSafeDomainName(name)) {
    throw new AgentDefinitionError(display(file), undefined, `worker file name '${name}' is not a usable worker name: ${SAFE_NAME_HINT}`);
  }
  const frontMatter = parseFrontMatter(readFileSync(file, 'utf8'), display(file));
  const fields = validateFields(workerFieldsSchema, frontMatter, display(file));
  if (fields.name !== name) {
    throw new AgentDefinitionError(display(file), frontMatter.lines['name'], `field 'name' is '${fields.name}' but the file is '${name}.md': they must match (rename one of them)`);
  }
  requireBody(frontMatter.body, file, "the worker's system prompt");
  return {
    name,
    description: fields.description,
    tools: fields.tools,
    model: fields.model,
    keywords: fields.keywords,
    after: fields.after,
    isDefault: fields.default,
    role: fields.role,
    prompt: frontMatter.body,
    file,
  };
}

function checkDomainLinks(domains: readonly DomainDefinition[]): void {
  const names = new Set(domains.map((domain) => domain.name));
  for (const domain of domains) {
    for (const before of domain.after) {
      if (before === domain.name || !names.has(before)) {
        throw new AgentDefinitionError(
          display(domain.file),
          undefined,
          `field 'after' names '${before}', which is not ${before === domain.name ? 'another' : 'a'} domain: use one of ${[...names].filter((n) => n !== domain.name).join(', ') || '(no other domains)'}`,
        );
      }
    }
  }
}

function requireBody(body: string, file: string, what: string): void {
  if (body === '') throw new AgentDefinitionError(display(file), undefined, `the file has no body: write ${what} after the closing '---'`);
}

/** Entries of a folder in name order, without the ones a user hid with a leading `.` or `_`. */
function visibleEntries(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.') && !name.startsWith('_'))
    .sort();
}

function isDirectory(target: string): boolean {
  try {
    return statSync(target).isDirectory();
  } catch {
    return false;
  }
}

/** A path as a person would type it from here: relative when inside the working directory. */
function display(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
