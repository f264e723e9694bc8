import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { splitTaskClauses } from '../../lib/agents/task-clauses.js';
import { filesNamed } from '../../src/domain/domain-memory.js';
import { planTask } from '../../src/main/scoring-router.js';

// Task text comes from anyone who can submit a task: these are the audit's inputs (H2, H3), which took
// minutes to days before the scans were linear. The timeout is generous; only a quadratic scan misses it.
const LINEAR = 20_000;
const MB = 1024 * 1024;

describe('filesNamed on hostile text', () => {
  it('finds no file in 5 MB of one letter (audit H2) [audit #28]', () => {
    expect(filesNamed(`api endpoint ${'D'.repeat(5 * MB)}`)).toEqual([]);
  }, LINEAR);

  it('still finds the paths around a 1 MB word', () => {
    const text = `fix src/api/users.ts ${'D'.repeat(MB)} and package.json, e.g. in lib/a.b/c.test.ts`;
    expect(filesNamed(text)).toEqual(['src/api/users.ts', 'package.json', 'lib/a.b/c.test']);
  }, LINEAR);

  it('handles 1 MB of folder levels, dots and dashes', () => {
    expect(filesNamed(`${'a/'.repeat(MB / 2)} ${'a.b-'.repeat(MB / 4)} x.${'b'.repeat(MB)}`)).toEqual(['a.b', '-a.b']);
  }, LINEAR);
});

describe('splitTaskClauses on hostile text', () => {
  it('keeps a 60 KB run of spaces as one clause (audit H3) [audit #29]', () => {
    const text = `api endpoint${' '.repeat(60_000)}x`;
    expect(splitTaskClauses(text).map((s) => s.clauses.map((c) => c.text))).toEqual([[text]]);
  }, LINEAR);

  it('splits 1 MB of separators and spaces', () => {
    const text = `a${' , '.repeat(MB / 8)}b${' ;  and '.repeat(MB / 16)}c`;
    expect(splitTaskClauses(text).map((s) => s.clauses.map((c) => c.text))).toEqual([['a', 'b', 'c']]);
  }, LINEAR);

  it('cuts 1 MB of punctuation and colons', () => {
    // A head never holds a line break (`\r`), so this sentence has none: one clause, as written.
    const text = `a${'!'.repeat(MB)}x${': \r'.repeat(MB / 8)}z`;
    const sentences = splitTaskClauses(`${text}.`);
    expect(sentences.map((s) => ({ head: s.head, clauses: s.clauses.map((c) => c.text), end: s.end }))).toEqual([
      { head: undefined, clauses: [text], end: '.' },
    ]);
  }, LINEAR);

  it('routes a task to main holding 60 KB of spaces (audit H3) [audit #29]', () => {
    const catalog = loadAgentCatalog(path.resolve(import.meta.dirname, '../../agents'));
    const plan = planTask({ description: `api endpoint${' '.repeat(60_000)}x`, requirements: [] }, catalog);
    expect(plan.steps.map((s) => s.domain)).toEqual(['backend']);
  }, LINEAR);
});
