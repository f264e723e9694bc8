import { z } from 'zod';

/**
 * The most a budget may be, in dollars: far above any one task's or client's day of model calls, so a
 * value past it is a typing slip (an extra zero, cents given as dollars), refused rather than obeyed.
 */
export const MAX_BUDGET_USD = 100_000;

/**
 * A budget in dollars, as `metadata.budget_usd`, `dan send --budget-usd` and the API's `budget_usd`
 * take it: a finite number above 0 and at most MAX_BUDGET_USD. Zero and negative budgets are refused
 * (a task that may spend nothing cannot run a worker); so are text, NaN and infinities.
 */
export const budgetUsdSchema = z.number({ error: 'must be a number of dollars, such as 0.50' })
  .finite({ error: 'must be a finite number of dollars' })
  .positive({ error: 'must be more than 0 dollars' })
  .max(MAX_BUDGET_USD, { error: `must be at most ${MAX_BUDGET_USD} dollars` });

/** Reads a budget typed on a command line; throws with the rule when it is not one. */
export function parseBudgetUsd(text: string): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  const parsed = budgetUsdSchema.safeParse(value);
  if (!parsed.success) throw new Error(`--budget-usd ${parsed.error.issues[0]?.message ?? 'is not a budget'} (got '${text}')`);
  return parsed.data;
}
