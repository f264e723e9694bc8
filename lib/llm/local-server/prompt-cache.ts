import { createHash } from 'node:crypto';
import { requestSegments } from '../token-count.js';
import type { LlmRequest } from '../types.js';

/** The input side of `usage`, split the way the real API splits it. */
export interface InputUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/**
 * Imitates prompt caching so that clients' cache accounting can be tested offline. A request's
 * prompt is read in API order (tools, system, messages); each block marked `cache_control` ends a
 * cacheable prefix. The longest prefix already seen (same model, same content) is read from the
 * cache; the tokens from there to the last marker are written to it; the rest is plain input.
 * Unlike the real API there is no minimum prefix length and nothing expires.
 */
export class PromptCache {
  private readonly seen = new Set<string>();

  usage(request: LlmRequest): InputUsage {
    const segments = requestSegments(request);
    const hash = createHash('sha256').update(String(request.model));
    const prefixes: { digest: string; tokens: number }[] = [];
    let total = 0;
    for (const segment of segments) {
      hash.update(segment.key);
      total += segment.tokens;
      if (segment.cached) prefixes.push({ digest: hash.copy().digest('hex'), tokens: total });
    }
    const last = prefixes.at(-1);
    if (!last) return { input_tokens: total, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };

    const hit = [...prefixes].reverse().find((prefix) => this.seen.has(prefix.digest));
    const read = hit?.tokens ?? 0;
    for (const prefix of prefixes) this.seen.add(prefix.digest);
    return { input_tokens: total - last.tokens, cache_creation_input_tokens: last.tokens - read, cache_read_input_tokens: read };
  }

  clear(): void {
    this.seen.clear();
  }
}
