import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { callCostMicroUsd, DEFAULT_MODEL_PRICES, loadPriceTable, priceOf } from '../../lib/llm/model-prices.js';
import { loadConfig } from '../../lib/config.js';
import { parseBudgetUsd } from '../../lib/protocol/budget.js';
import { parseTask } from '../../lib/protocol/task.js';
import { parseSince } from '../../src/operations/cost-report.js';

describe('the price table', () => {
  it('prices a model by its exact id first, then by its longest family prefix', () => {
    const table = loadPriceTable('{"claude-opus-5-5-20261101": {"input": 1, "output": 2}}');
    expect(priceOf(table, 'claude-opus-5-5-20261101')).toMatchObject({ input: 1, output: 2, cacheWrite: 1.25, cacheRead: 0.1 });
    expect(priceOf(table, 'claude-opus-5-5')).toEqual(DEFAULT_MODEL_PRICES['claude-opus-5-5*']);
    expect(priceOf(table, 'claude-opus-5')).toEqual(DEFAULT_MODEL_PRICES['claude-opus-5*']);
    expect(priceOf(table, 'claude-opus-4-1-20250805')).toMatchObject({ input: 15, output: 75 });
    expect(priceOf(table, 'claude-sonnet-5-5-20261001')).toMatchObject({ input: 2, output: 10 });
    expect(priceOf(table, 'claude-haiku-4-5-20251001')).toMatchObject({ input: 1, output: 5 });
    expect(priceOf(table, 'gpt-unknown')).toBeUndefined();
  });

  it('costs a call in micro-dollars from its tokens of each kind', () => {
    const price = { input: 3, output: 15, cacheWrite: 3.75, cacheRead: 0.3 };
    // 1000 x 3 + 100 x 15 + 2000 x 3.75 + 10000 x 0.3 = 3000 + 1500 + 7500 + 3000 micro-dollars.
    expect(callCostMicroUsd(price, { input: 1000, output: 100, cache_creation_input: 2000, cache_read_input: 10000 })).toBe(15_000);
  });

  it('reads an override from a file, and says what is wrong with a bad one', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-prices-'));
    const file = path.join(dir, 'prices.json');
    writeFileSync(file, '{"my-model*": {"input": 0.5, "output": 1, "cacheWrite": 0.6, "cacheRead": 0.05}}');
    expect(priceOf(loadPriceTable(file), 'my-model-2')).toEqual({ input: 0.5, output: 1, cacheWrite: 0.6, cacheRead: 0.05 });
    expect(() => loadPriceTable('{"m": {"input": -1, "output": 1}}')).toThrow(/DAN_MODEL_PRICES is not a price table: m\.input/);
    expect(() => loadPriceTable('{not json')).toThrow(/DAN_MODEL_PRICES is not JSON/);
    expect(() => loadPriceTable(path.join(dir, 'missing.json'))).toThrow(/cannot be read \(ENOENT\)/);
  });
});

describe('budgets as input', () => {
  it.each(['0', '-1', 'abc', '', 'NaN', 'Infinity', '1e9'])('refuses --budget-usd %j with the rule', (text) => {
    expect(() => parseBudgetUsd(text)).toThrow(/--budget-usd must be/);
  });

  it('takes a positive number of dollars', () => {
    expect(parseBudgetUsd('2.50')).toBe(2.5);
  });

  it.each(['0', '-1', 'ten', '1e9'])('refuses DAN_CLIENT_DAILY_BUDGET_USD=%s at start-up, naming the setting', (value) => {
    expect(() => loadConfig({}, { DAN_CLIENT_DAILY_BUDGET_USD: value })).toThrow(/DAN_CLIENT_DAILY_BUDGET_USD/);
  });

  it('takes a client daily budget in dollars, and none when unset', () => {
    expect(loadConfig({}, { DAN_CLIENT_DAILY_BUDGET_USD: '2.5' }).cost.clientDailyBudgetUsd).toBe(2.5);
    expect(loadConfig({}, {}).cost.clientDailyBudgetUsd).toBeUndefined();
  });

  it.each([0, -5, 'ten', 1e12, null])('fails a raw task whose metadata.budget_usd is %j as invalid', (budget) => {
    const parsed = parseTask(JSON.stringify({ task_id: 't-1', payload: { description: 'x' }, metadata: { budget_usd: budget } }));
    expect(parsed.kind).toBe('invalid');
    if (parsed.kind !== 'ok') expect(parsed.reason).toMatch(/budget_usd/);
  });
});

describe('dan cost --since', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  it('takes a day or a span back from now, in UTC', () => {
    expect(parseSince(undefined, now)).toBe('2026-12-07');
    expect(parseSince('7d', now)).toBe('2026-11-30');
    expect(parseSince('24h', now)).toBe('2026-12-06');
    expect(parseSince('2026-12-01', now)).toBe('2026-12-01');
    expect(() => parseSince('last week', now)).toThrow(/since must be a day such as 2026-12-01 or a span/);
  });
});
