import type { TokenUsage } from './result.js';

/**
 * The share of a task's input tokens read from the prompt cache: cache_read / (input + cache_read +
 * cache_creation), rounded to 3 places; null when the task sent no input. A share near 1 means the
 * stable head of every prompt (tools, system, the worker's instructions, ELF context) was paid for
 * once and read back at a tenth of the price on each later turn.
 */
export function cacheReadShare(usage: Partial<TokenUsage> | undefined): number | null {
  const read = finite(usage?.cache_read_input_tokens);
  const all = finite(usage?.input_tokens) + read + finite(usage?.cache_creation_input_tokens);
  return all > 0 ? Math.round((read / all) * 1000) / 1000 : null;
}

/**
 * `output` with `cache_read_share` beside its `usage` (the tokens a domain's workers used), so the
 * result hash says how well the task's prompts were cached; an output without `usage` is left as is.
 */
export function withCacheReadShare<T extends Record<string, unknown>>(output: T): T {
  const usage = output['usage'];
  if (usage === null || typeof usage !== 'object' || Array.isArray(usage)) return output;
  return { ...output, cache_read_share: cacheReadShare(usage as Partial<TokenUsage>) };
}

function finite(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}
