import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { kindOf, learnsFrom, offeredDomains, residentDomains, soleDomainOfKind } from '../../lib/agents/domain-kinds.js';

const REAL_AGENTS = path.resolve(import.meta.dirname, '../../agents');
const made: string[] = [];
afterEach(() => { for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true }); });

function copyOfAgents(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-kinds-'));
  made.push(dir);
  cpSync(REAL_AGENTS, dir, { recursive: true });
  return dir;
}

describe('domain kinds', () => {
  it('loads the memory as a folder of kind elf: no workers, not routed, resident, not learned from', () => {
    const catalog = loadAgentCatalog(REAL_AGENTS);
    const elf = catalog.domain('elf');
    expect(elf).toMatchObject({ name: 'elf', handler: 'elf', workers: [] });
    expect(catalog.domains.map((d) => d.name)).not.toContain('elf');
    expect(residentDomains(catalog, { elfEnabled: true })).toEqual(['elf']);
    expect(kindOf(elf).mounts).toEqual(['elfStore']);
    expect(learnsFrom(catalog, 'elf')).toBe(false);
    expect(learnsFrom(catalog, 'backend')).toBe(true);
  });

  it('with DAN_ELF=off the memory is neither resident nor offered', () => {
    const catalog = loadAgentCatalog(REAL_AGENTS);
    expect(residentDomains(catalog, { elfEnabled: false })).toEqual([]);
    expect(offeredDomains(catalog, { elfEnabled: false }).map((d) => d.name)).toEqual(['backend', 'devops', 'farm', 'frontend']);
    expect(offeredDomains(catalog, { elfEnabled: true }).map((d) => d.name)).toEqual(['backend', 'devops', 'elf', 'farm', 'frontend']);
  });

  it('a second memory folder is a kind, not a name: it is resident too', () => {
    const dir = copyOfAgents();
    mkdirSync(path.join(dir, 'recall'));
    writeFileSync(path.join(dir, 'recall/domain.md'), '---\nname: recall\ndescription: Another memory\nhandler: elf\n---\nRemembers.\n');
    expect(residentDomains(loadAgentCatalog(dir), { elfEnabled: true })).toEqual(['elf', 'recall']);
  });

  it('refuses workers in a domain whose kind runs none, naming the fix', () => {
    const dir = copyOfAgents();
    mkdirSync(path.join(dir, 'elf/workers'));
    writeFileSync(path.join(dir, 'elf/workers/x.md'), '---\nname: x\ndescription: d\ntools: Read\n---\nBody.\n');
    expect(() => loadAgentCatalog(dir)).toThrow(/domain 'elf' is of kind 'elf', which runs no workers: remove elf\/workers, or change its 'handler'/);
  });

  it('finds the farm-kind domain by its kind, whatever its folder is called, and names the fix when there is none', () => {
    const dir = copyOfAgents();
    cpSync(path.join(dir, 'farm'), path.join(dir, 'refactors'), { recursive: true });
    rmSync(path.join(dir, 'farm'), { recursive: true });
    const domainFile = path.join(dir, 'refactors', 'domain.md');
    writeFileSync(domainFile, readFileSync(domainFile, 'utf8').replace(/^name: farm$/m, 'name: refactors'));
    expect(soleDomainOfKind(loadAgentCatalog(dir), 'farm').name).toBe('refactors');
    rmSync(path.join(dir, 'refactors'), { recursive: true });
    expect(() => soleDomainOfKind(loadAgentCatalog(dir), 'farm')).toThrow(/no domain in .* has 'handler: farm'/);
  });
});
