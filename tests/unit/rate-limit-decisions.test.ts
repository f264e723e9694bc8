import { describe, expect, it } from 'vitest';
import { parseModelLimits } from '../../lib/config/model-limits.js';
import { pausesModel, retryAfterHeaders, retryAfterMs, MAX_PAUSE_MS } from '../../lib/llm/retry-after.js';
import { cacheReadShare, withCacheReadShare } from '../../lib/protocol/cache-read-share.js';
import { describeModelPause, spawnHold } from '../../src/main/spawn-policy.js';

describe('DAN_MODEL_LIMITS', () => {
  it('reads per-model limits into the names the limiter uses', () => {
    expect(parseModelLimits('{"claude-opus-5-5":{"rpm":50,"input_tpm":30000},"claude-haiku-5-5":{"output_tpm":8000}}'))
      .toEqual({ 'claude-opus-5-5': { rpm: 50, inputTpm: 30000 }, 'claude-haiku-5-5': { outputTpm: 8000 } });
    expect(parseModelLimits(undefined)).toEqual({});
    expect(parseModelLimits('  ')).toEqual({});
  });

  it('says what is wrong with bad input instead of guessing', () => {
    expect(parseModelLimits('rpm=5')).toMatch(/must be JSON/);
    expect(parseModelLimits('{"claude-opus-5-5":{"rpm":-1}}')).toMatch(/claude-opus-5-5\.rpm/);
    expect(parseModelLimits('{"claude-opus-5-5":{"rpm":1.5}}')).toMatch(/whole numbers/);
    expect(parseModelLimits('{"claude-opus-5-5":{"rps":5}}')).toMatch(/rpm/);
    expect(parseModelLimits('{"bad model id":{"rpm":5}}')).toMatch(/bad model id/);
  });
});

describe('retry-after', () => {
  it('reads retry-after-ms first, then seconds or an HTTP date, capped', () => {
    expect(retryAfterMs({ 'retry-after-ms': '1500', 'retry-after': '9' })).toBe(1500);
    expect(retryAfterMs({ 'retry-after': '3' })).toBe(3000);
    expect(retryAfterMs({ 'retry-after': new Date(10_000).toUTCString() }, 4_000)).toBe(6000);
    expect(retryAfterMs({ 'retry-after': '86400' })).toBe(MAX_PAUSE_MS);
    expect(retryAfterMs({})).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': 'soon' })).toBeUndefined();
    expect(retryAfterHeaders(1200)).toEqual({ 'retry-after': '2', 'retry-after-ms': '1200' });
  });

  it('pauses the model for everyone on a 429 or a 529 (overloaded), not on other errors', () => {
    expect([429, 529].map(pausesModel)).toEqual([true, true]);
    expect([undefined, 200, 400, 402, 500, 502, 503].map(pausesModel)).toEqual([false, false, false, false, false, false, false]);
  });
});

describe('cache_read_share', () => {
  it('is the share of input tokens read from the cache, or null without input', () => {
    expect(cacheReadShare({ input_tokens: 100, cache_creation_input_tokens: 100, cache_read_input_tokens: 800 })).toBe(0.8);
    expect(cacheReadShare({ input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 })).toBeNull();
    expect(cacheReadShare(undefined)).toBeNull();
  });

  it('is added beside usage and nowhere else', () => {
    expect(withCacheReadShare({ summary: 's', usage: { input_tokens: 1, cache_read_input_tokens: 3 } })).toMatchObject({ cache_read_share: 0.75 });
    expect(withCacheReadShare({ summary: 's' })).toEqual({ summary: 's' });
  });
});

describe('spawning while a model is paused', () => {
  it('holds while any model is paused, naming the models once', () => {
    expect(spawnHold([])).toBeUndefined();
    expect(spawnHold([{ model: 'b', remainingMs: 10 }, { model: 'a', remainingMs: 5 }])).toBe('a, b');
    expect(spawnHold([{ model: 'a', remainingMs: 0 }])).toBeUndefined();
    expect(describeModelPause({ model: 'claude-sonnet-5-5', remainingMs: 1500 })).toMatch(/claude-sonnet-5-5 paused for 2 s more.*no new domain starts/);
  });
});
