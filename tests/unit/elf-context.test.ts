import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SECTION_HEADERS } from '../../lib/elf/elf-context.js';
import { ElfMemory, FAILURE_WINDOW } from '../../lib/elf/elf-memory.js';
import { countTokens } from '../../lib/llm/token-count.js';
import { MovableClock } from '../support/movable-clock.js';

const DAY = 86_400_000;

describe('ELF context for a worker', () => {
  let dir: string;
  let clock: MovableClock;
  let memory: ElfMemory;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'elf-context-'));
    clock = new MovableClock(Date.UTC(2026, 3, 1, 8));
    memory = ElfMemory.open(path.join(dir, 'memory.sqlite'), { clock });
  });

  afterEach(() => {
    memory.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function makeGolden(domain: string, rule: string): number {
    const { heuristic } = memory.recordHeuristic({ domain, rule, source: 'person', confidence: 1 });
    for (let i = 0; i < 10; i++) {
      if (i === 5) clock.t += DAY;
      memory.validate(heuristic.id);
    }
    clock.t += DAY;
    expect(memory.getHeuristic(heuristic.id).golden).toBe(true);
    return heuristic.id;
  }

  function fill(): void {
    makeGolden('*', 'Never commit secrets to the repository');
    makeGolden('backend', 'Every endpoint validates its input');
    makeGolden('frontend', 'Every form field has a label');
    for (let i = 0; i < 30; i++) {
      const { heuristic } = memory.recordHeuristic({ domain: 'backend', rule: `For the users endpoint, check case ${i} of the signup payload carefully`, source: 'model', confidence: 0.3 + (i % 10) / 20 });
      memory.approve(heuristic.id);
    }
    for (let i = 0; i < 5; i++) {
      memory.recordOutcome({
        taskId: `failed-${i}`, domain: 'backend', status: 'failed', description: `Add the users signup endpoint, attempt ${i}`,
        error: `ValidationError: payload field ${i} missing`, filesModified: ['src/api/users.ts', `src/api/extra-${i}.ts`],
      });
    }
    memory.recordOutcome({ taskId: 'ok-1', domain: 'backend', status: 'completed', description: 'Add the users signup endpoint', filesCreated: ['src/db/schema.ts'] });
  }

  it('is empty when memory has nothing', () => {
    expect(memory.buildContext({ domain: 'backend', task: 'Add a users endpoint', files: ['src/api/users.ts'] })).toEqual({ text: '', heuristicIds: [], tokens: 0 });
  });

  it('lays out golden rules, relevant heuristics, past failures and hot files, in that order', () => {
    fill();
    const context = memory.buildContext({ domain: 'backend', task: 'Add the users signup endpoint', files: ['src/db/schema.ts'] });
    const at = Object.values(SECTION_HEADERS).map((header) => context.text.indexOf(header));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(context.text).toContain('- "Never commit secrets to the repository"');
    expect(context.text).toContain('- "Every endpoint validates its input"');
    // A golden rule reaches every domain's workers, as the memory promises.
    expect(context.text).toContain('- "Every form field has a label"');
    expect(context.text).toMatch(/- \(0\.\d\d\) "For the users endpoint, check case \d+/);
    expect(context.text).toMatch(/-> failed: "ValidationError: payload field \d missing"/);
    // The named file first (it is hot), then the domain's hottest.
    const hot = context.text.slice(context.text.indexOf(SECTION_HEADERS.hotFiles)).split('\n').slice(1);
    expect(hot[0]).toMatch(/^- "src\/db\/schema\.ts" \(heat 1\.0\)$/);
    expect(hot[1]).toMatch(/^- "src\/api\/users\.ts" \(heat 5\.0, 5 recent failed tasks\)$/);
    // Golden first, then the relevant ones by relevance times confidence.
    expect(context.heuristicIds.length).toBe(3 + 10);
  });

  it('stays within the budget as counted by countTokens, and never cuts an item', () => {
    fill();
    const request = { domain: 'backend', task: 'Add the users signup endpoint', files: ['src/api/users.ts'] };
    const full = memory.buildContext(request);
    expect(full.tokens).toBe(countTokens(full.text));
    expect(full.tokens).toBeLessThanOrEqual(1500);
    const fullLines = new Set(full.text.split('\n'));
    const itemsAt = new Map<number, number>();
    for (const budget of [1, 10, 20, 40, 80, 120, 200, 300, 500, 800]) {
      const small = memory.buildContext({ ...request, budgetTokens: budget });
      expect(small.tokens).toBe(countTokens(small.text));
      expect(small.tokens).toBeLessThanOrEqual(budget);
      const lines = small.text.split('\n').filter((line) => line !== '');
      for (const line of lines) expect(fullLines.has(line)).toBe(true);
      // A header never stands alone.
      lines.forEach((line, i) => {
        if (line.startsWith('## ')) expect(lines[i + 1]?.startsWith('- ')).toBe(true);
      });
      itemsAt.set(budget, lines.filter((line) => line.startsWith('- ')).length);
    }
    const fullItems = full.text.split('\n').filter((line) => line.startsWith('- ')).length;
    expect(itemsAt.get(40)).toBeGreaterThan(0);
    expect(itemsAt.get(40)).toBeLessThan(itemsAt.get(300) ?? 0);
    expect(itemsAt.get(300)).toBeLessThan(fullItems);
    expect(memory.buildContext({ ...request, budgetTokens: 1 }).text).toBe('');
    expect(memory.buildContext({ ...request, budgetTokens: 40 }).text.split('\n')[0]).toBe(SECTION_HEADERS.golden);
  });

  it("shows the domain's own recent failures, among its last 1,000", () => {
    memory.batch(() => {
      memory.recordOutcome({ taskId: 'ancient', domain: 'backend', status: 'failed', description: 'Configure the zebra cache', error: 'zebra cache exploded' });
      memory.recordOutcome({ taskId: 'elsewhere', domain: 'devops', status: 'failed', description: 'Zebra cache in the pipeline', error: 'zebra pipeline broke' });
      expect(memory.buildContext({ domain: 'backend', task: 'zebra cache' }).text).toContain('zebra cache exploded');
      for (let i = 0; i < FAILURE_WINDOW; i++) memory.recordOutcome({ taskId: `later-${i}`, domain: 'backend', status: 'failed', description: `Other work ${i}`, error: 'other error' });
    });
    const context = memory.buildContext({ domain: 'backend', task: 'zebra cache' });
    expect(context.text).not.toContain('zebra');
    expect(memory.buildContext({ domain: 'devops', task: 'zebra cache' }).text).toContain('zebra pipeline broke');
    expect(memory.search('zebra cache', { domain: 'backend' }).outcomes.map((hit) => hit.outcome.taskId)).toEqual(['ancient']);
  });

  it('gives a tiny budget fewer items, and skips an item that does not fit for a later one that does', () => {
    memory.recordHeuristic({ domain: 'backend', rule: `Long rule about payments: ${'retry idempotently and record every attempt, '.repeat(8)}`, source: 'person', confidence: 0.9 });
    memory.recordHeuristic({ domain: 'backend', rule: 'Short payments rule', source: 'person', confidence: 0.3 });
    const full = memory.buildContext({ domain: 'backend', task: 'payments' });
    expect(full.heuristicIds).toHaveLength(2);
    const tight = memory.buildContext({ domain: 'backend', task: 'payments', budgetTokens: 40 });
    expect(tight.heuristicIds).toHaveLength(1);
    expect(tight.text).toContain('Short payments rule');
    expect(tight.tokens).toBeLessThanOrEqual(40);
  });
});
