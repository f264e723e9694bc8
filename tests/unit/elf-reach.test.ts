import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElfDatabase } from '../../lib/elf/elf-database.js';
import { ElfMemory } from '../../lib/elf/elf-memory.js';
import { normalizeRepository, repositoryOf } from '../../lib/elf/elf-repository.js';
import { ELF_MIGRATIONS } from '../../lib/elf/elf-schema.js';
import { MovableClock } from '../support/movable-clock.js';

const DAY = 86_400_000;

describe('what ELF memory reaches', () => {
  let dir: string;
  let clock: MovableClock;
  let memory: ElfMemory;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'elf-reach-'));
    clock = new MovableClock(Date.UTC(2026, 2, 1, 9));
    memory = ElfMemory.open(path.join(dir, 'memory.sqlite'), { clock });
  });

  afterEach(() => {
    memory.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A person's rule validated until golden: 16 validations at 5 a day. */
  function goldenRule(domain: string, rule: string): number {
    const { id } = memory.recordHeuristic({ domain, rule, source: 'person' }).heuristic;
    for (let n = 0; n < 16; n++) {
      if (n > 0 && n % 5 === 0) clock.advance(DAY);
      expect(memory.validate(id, `${domain}-task-${n}`).applied).toBe(true);
    }
    expect(memory.getHeuristic(id).golden).toBe(true);
    return id;
  }

  it("gives a golden rule to every domain's workers, not only its own", () => {
    const id = goldenRule('backend', 'Never commit a secret to the repository');
    const frontend = memory.buildContext({ domain: 'frontend', task: 'style the login page' });
    expect(frontend.heuristicIds).toContain(id);
    expect(frontend.text).toContain('"Never commit a secret to the repository"');
    expect(memory.buildContext({ domain: 'devops', task: 'add a deploy job' }).heuristicIds).toContain(id);
  });

  it("never shows one repository's hot files to work on another", () => {
    memory.recordOutcome({ taskId: 'a-1', domain: 'backend', status: 'completed', filesModified: ['src/auth.ts'], repository: 'shop-api' });
    memory.recordOutcome({ taskId: 'b-1', domain: 'backend', status: 'failed', error: 'boom', filesModified: ['src/billing.ts'], repository: 'billing/' });

    const onShop = memory.buildContext({ domain: 'backend', task: 'fix login', files: ['src/billing.ts'], repository: './shop-api' });
    expect(onShop.text).toContain('"src/auth.ts"');
    expect(onShop.text).not.toContain('billing.ts');
    const onBilling = memory.buildContext({ domain: 'backend', task: 'fix invoices', files: ['src/auth.ts'], repository: 'billing' });
    expect(onBilling.text).toContain('"src/billing.ts" (heat 1.0, 1 recent failed task)');
    expect(onBilling.text).not.toContain('auth.ts');
    // A task that names no repository sees neither; people still list every trail.
    expect(memory.buildContext({ domain: 'backend', task: 'anything' }).text).not.toMatch(/auth\.ts|billing\.ts/);
    expect(memory.hotspots().map((h) => h.file).sort()).toEqual(['src/auth.ts', 'src/billing.ts']);
    expect(memory.hotspots({ repository: 'billing' })).toMatchObject([{ file: 'src/billing.ts', recentFailures: 1 }]);
  });

  it('keys a repository by the path a task names, tidied the same way everywhere', () => {
    expect(repositoryOf({ path: '/work/shop/', workspace: 'ignored' })).toBe('/work/shop');
    expect(repositoryOf({ workspace: './shop//api/' })).toBe('shop/api');
    expect(repositoryOf({ path: '  ', workspace: 'shop' })).toBe('shop');
    expect(repositoryOf({})).toBe('');
    expect(normalizeRepository('.')).toBe('');
  });

  it('upgrades a schema-2 database: its trails serve tasks that name no repository, and no named one', () => {
    memory.close();
    const file = path.join(dir, 'old.sqlite');
    const old = ElfDatabase.open(file, { migrations: ELF_MIGRATIONS.filter((m) => m.version <= 2) });
    expect(old.schemaVersion).toBe(2);
    // What a version-2 dan wrote for one modified file: the deposit and its heat per domain and for all.
    const at = clock.now();
    old.run("INSERT INTO trails (file, domain, task_id, outcome, failed, strength, deposited_at) VALUES ('src/legacy.ts', 'backend', 'old-1', 'completed', 0, 1, ?)", [at]);
    for (const scope of ['backend', '*']) {
      old.run('INSERT INTO trail_heat (scope, file, strength, ref_at, heat_key, deposits, failures, last_deposit_at) VALUES (?, ?, 1, ?, ?, 1, 0, ?)', [scope, 'src/legacy.ts', at, at / (24 * 3_600_000), at]);
    }
    old.close();

    memory = ElfMemory.open(file, { clock });
    expect(schemaVersionOf(file)).toBe(3);
    expect(memory.buildContext({ domain: 'backend', task: 'refactor' }).text).toContain('"src/legacy.ts"');
    expect(memory.buildContext({ domain: 'backend', task: 'refactor', repository: 'shop-api' }).text).not.toContain('legacy');
    expect(memory.hotspots({ domain: 'backend' }).map((h) => h.file)).toEqual(['src/legacy.ts']);
    // New deposits go on beside the old ones.
    memory.recordOutcome({ taskId: 'new-1', domain: 'backend', status: 'completed', filesModified: ['src/new.ts'], repository: 'shop-api' });
    expect(memory.buildContext({ domain: 'backend', task: 'refactor', repository: 'shop-api' }).text).toContain('"src/new.ts"');
  });

  describe('contradiction', () => {
    const rule = 'Run the seed script before the migrations';

    function shown(taskId: string): number {
      const { id } = memory.recordHeuristic({ domain: 'backend', rule, source: 'person' }).heuristic;
      expect(memory.buildContext({ domain: 'backend', task: 'seed script migrations', taskId, worker: 'db' }).heuristicIds).toEqual([id]);
      return id;
    }

    it("lowers a rule by c - 0.15c when a worker said it did not hold and the task then completed", () => {
      const id = shown('task-c');
      // The worker copies the rule as its prompt shows it, quotes and all.
      expect(memory.claimContradiction({ taskId: 'task-c', rule: JSON.stringify(rule), reason: 'migrations create the tables the seed needs', origin: 'model:task-c/db' }).id).toBe(id);
      expect(memory.getHeuristic(id)).toMatchObject({ confidence: 0.5, contradictions: 0 });
      expect(memory.creditTask('task-c', 'completed')).toEqual([id]);
      const after = memory.getHeuristic(id);
      expect(after).toMatchObject({ contradictions: 1, validations: 0, violations: 0 });
      expect(after.confidence).toBeCloseTo(0.5 - 0.15 * 0.5, 12);
    });

    it('drops the claim when the task fails: the rule is violated as any shown rule of a failed task', () => {
      const id = shown('task-f');
      memory.claimContradiction({ taskId: 'task-f', id });
      memory.creditTask('task-f', 'failed');
      expect(memory.getHeuristic(id)).toMatchObject({ contradictions: 0, violations: 1 });
    });

    it('refuses a claim on a rule the task was not shown', () => {
      const other = memory.recordHeuristic({ domain: 'frontend', rule: 'Use CSS modules', source: 'person' }).heuristic.id;
      shown('task-x');
      expect(() => memory.claimContradiction({ taskId: 'task-x', id: other })).toThrow(`heuristic ${other} was not shown to task task-x`);
      expect(() => memory.claimContradiction({ taskId: 'task-x', rule: 'Use CSS modules' })).toThrow('was not shown to task task-x');
      expect(() => memory.claimContradiction({ taskId: 'task-never', rule })).toThrow('was not shown to task task-never');
    });
  });
});

function schemaVersionOf(file: string): number {
  const db = ElfDatabase.open(file);
  try {
    return db.schemaVersion;
  } finally {
    db.close();
  }
}
