import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { TokenKind } from '../redis/task-metrics.js';

/** What one model costs, in US dollars per million tokens of each kind. */
export interface ModelPrice {
  input: number;
  output: number;
  /** Tokens written to the prompt cache (the 5-minute cache, the API's default). */
  cacheWrite: number;
  cacheRead: number;
}

/** Model id or id prefix -> its price. Keys ending in `*` are family prefixes; others match one id exactly. */
export type PriceTable = Readonly<Record<string, ModelPrice>>;

const p = (input: number, output: number, cacheWrite: number, cacheRead: number): ModelPrice => ({ input, output, cacheWrite, cacheRead });

/**
 * Anthropic's list prices (USD per million tokens: input, output, 5-minute cache write, cache read)
 * as published on its model pages on 2026-12-07. A model id matches its exact entry first, then the
 * longest family prefix (`claude-opus-5-5*`, then `claude-opus*`), so a dated id such as
 * `claude-sonnet-5-5-20261001` takes its family's price. Haiku 5.5 is billed in two bands; this is
 * the lower (prompts up to 100k tokens), so longer prompts are under-counted. Batch, long-context and
 * 1-hour-cache rates are not modelled. Override with DAN_MODEL_PRICES when prices change.
 */
export const DEFAULT_MODEL_PRICES: PriceTable = {
  'claude-fable-5-1*': p(10, 50, 12.5, 0.25),
  'claude-fable*': p(10, 50, 12.5, 1),
  'claude-mythos-5-1*': p(10, 50, 12.5, 0.25),
  'claude-mythos*': p(10, 50, 12.5, 1),
  'claude-opus-5-5*': p(4, 20, 5, 0.2),
  'claude-opus-5*': p(5, 25, 6.25, 0.5),
  'claude-opus-4-5*': p(5, 25, 6.25, 0.5),
  'claude-opus-4-6*': p(5, 25, 6.25, 0.5),
  'claude-opus-4-7*': p(5, 25, 6.25, 0.5),
  'claude-opus-4-8*': p(5, 25, 6.25, 0.5),
  'claude-opus-4*': p(15, 75, 18.75, 1.5),
  'claude-3-opus*': p(15, 75, 18.75, 1.5),
  'claude-opus*': p(4, 20, 5, 0.2),
  'claude-sonnet-5*': p(2, 10, 2.5, 0.2),
  'claude-sonnet-4*': p(3, 15, 3.75, 0.3),
  'claude-3-7-sonnet*': p(3, 15, 3.75, 0.3),
  'claude-sonnet*': p(2, 10, 2.5, 0.2),
  'claude-haiku-5-5*': p(0.1, 0.5, 0.125, 0.01),
  'claude-haiku-4*': p(1, 5, 1.25, 0.1),
  'claude-3-5-haiku*': p(0.8, 4, 1, 0.08),
  'claude-3-haiku*': p(0.25, 1.25, 0.3, 0.03),
  'claude-haiku*': p(0.1, 0.5, 0.125, 0.01),
};

const dollars = z.number({ error: 'must be a number of dollars per million tokens' }).finite().nonnegative().max(10_000);
const priceSchema = z.strictObject({ input: dollars, output: dollars, cacheWrite: dollars.optional(), cacheRead: dollars.optional() });
const tableSchema = z.record(z.string().min(1).max(100), priceSchema);

/**
 * The price table of DAN_MODEL_PRICES: inline JSON (`{"my-model": {"input": 1, "output": 5}}`) or the
 * path of a file holding it. Its entries are laid over the shipped table (same keys replace, new keys
 * add); a missing cacheWrite is 1.25 x input and a missing cacheRead 0.1 x input, as on the list.
 * Throws an error naming the problem when the value cannot be used.
 */
export function loadPriceTable(setting: string | undefined): PriceTable {
  if (setting === undefined || setting.trim() === '') return DEFAULT_MODEL_PRICES;
  const text = setting.trim().startsWith('{') ? setting : readPriceFile(setting);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`DAN_MODEL_PRICES is not JSON (${(error as Error).message}): give inline JSON such as {"claude-opus-5-5": {"input": 4, "output": 20}} or the path of a file holding it`);
  }
  const table = tableSchema.safeParse(parsed);
  if (!table.success) {
    throw new Error(`DAN_MODEL_PRICES is not a price table: ${table.error.issues.map((i) => `${i.path.join('.') || '(top)'} ${i.message}`).join('; ')}; each entry is {"input", "output", "cacheWrite"?, "cacheRead"?} in dollars per million tokens`);
  }
  const merged: Record<string, ModelPrice> = { ...DEFAULT_MODEL_PRICES };
  for (const [model, price] of Object.entries(table.data)) {
    merged[model] = { input: price.input, output: price.output, cacheWrite: price.cacheWrite ?? price.input * 1.25, cacheRead: price.cacheRead ?? price.input * 0.1 };
  }
  return merged;
}

function readPriceFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`DAN_MODEL_PRICES names ${file}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): give the path of a JSON price table, or inline JSON`);
  }
}

/** The price of `model`: its exact entry, else the longest family prefix (`name*`) it starts with; undefined when none. */
export function priceOf(table: PriceTable, model: string): ModelPrice | undefined {
  const exact = table[model];
  if (exact) return exact;
  let best: ModelPrice | undefined;
  let bestLength = -1;
  for (const [key, price] of Object.entries(table)) {
    if (!key.endsWith('*')) continue;
    const prefix = key.slice(0, -1);
    if (prefix.length > bestLength && model.startsWith(prefix)) {
      best = price;
      bestLength = prefix.length;
    }
  }
  return best;
}

/** Micro-dollars (1e-6 USD): costs are kept as whole numbers so Redis adds them exactly. */
export const MICRO_USD_PER_USD = 1_000_000;

/** What a call with these tokens cost at `price`, in micro-dollars (rounded to the nearest). */
export function callCostMicroUsd(price: ModelPrice, tokens: Partial<Record<TokenKind, number>>): number {
  const dollarsPerMillion = (tokens.input ?? 0) * price.input + (tokens.output ?? 0) * price.output
    + (tokens.cache_creation_input ?? 0) * price.cacheWrite + (tokens.cache_read_input ?? 0) * price.cacheRead;
  // Dollars per million tokens times tokens is micro-dollars.
  return Math.round(dollarsPerMillion);
}

/** Micro-dollars as dollars, for results and reports. */
export function usdOf(microUsd: number): number {
  return Math.round(microUsd) / MICRO_USD_PER_USD;
}
