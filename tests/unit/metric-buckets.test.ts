import { describe, expect, it } from 'vitest';
import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import zlib from 'node:zlib';
import { ModelCallUsageReader, readModelCallUsage } from '../../lib/llm/model-call-usage.js';
import {
  HISTORY_BUCKET_S, HISTORY_KEEP_S, HISTORY_WINDOWS, TASK_DURATION_BOUNDS_MS, bucketOf, metricsLuaConstants, quantileFromBuckets,
} from '../../lib/redis/metric-buckets.js';

const bounds = [1_000, 10_000, 60_000];

describe('duration buckets', () => {
  it('put a duration in the first bucket whose bound it does not pass, and past them all in +Inf', () => {
    expect(bucketOf(bounds, 0)).toBe(1);
    expect(bucketOf(bounds, 1_000)).toBe(1);
    expect(bucketOf(bounds, 1_001)).toBe(2);
    expect(bucketOf(bounds, 60_000)).toBe(3);
    expect(bucketOf(bounds, 60_001)).toBe(4);
  });

  it('give the p95 interpolated inside its bucket, as histogram_quantile does', () => {
    // 100 durations: 95 in (1 s, 10 s], 5 in (10 s, 60 s]: the 95th is the last of the second bucket.
    expect(quantileFromBuckets(bounds, [0, 95, 5, 0], 0.95)).toBe(10_000);
    // 20 in the first bucket: the 19th lies 95 % of the way through it.
    expect(quantileFromBuckets(bounds, [20, 0, 0, 0], 0.95)).toBe(950);
    // 18 and 2: the 19th is the first of the two in (10 s, 60 s], halfway.
    expect(quantileFromBuckets(bounds, [0, 18, 2, 0], 0.95)).toBe(35_000);
    // Past the last bound nothing is known above it.
    expect(quantileFromBuckets(bounds, [1, 0, 0, 99], 0.95)).toBe(60_000);
    expect(quantileFromBuckets(bounds, [0, 0, 0, 0], 0.95)).toBeUndefined();
    expect(quantileFromBuckets(bounds, [], 0.95)).toBeUndefined();
  });

  it('keep each hour of history for the longest window and one hour more, and make each window of whole hours', () => {
    expect(HISTORY_KEEP_S).toBe(7 * 86_400 + 3_600);
    for (const w of Object.values(HISTORY_WINDOWS)) expect(w.bucketS % HISTORY_BUCKET_S).toBe(0);
    expect(HISTORY_WINDOWS['24h'].bucketS * HISTORY_WINDOWS['24h'].buckets).toBe(86_400);
    expect(HISTORY_WINDOWS['7d'].bucketS * HISTORY_WINDOWS['7d'].buckets).toBe(7 * 86_400);
  });

  it('are the same in the Lua that counts task ends, generated from this one definition', () => {
    const lua = metricsLuaConstants();
    expect(lua).toContain(`local TASK_BOUNDS_MS = { ${TASK_DURATION_BOUNDS_MS.join(', ')} }`);
    expect(lua).toContain(`local HISTORY_KEEP_S = ${HISTORY_KEEP_S}`);
    expect(lua).toContain('local METRIC_SEP = "\\t"');
  });
});

describe('ModelCallUsageReader', () => {
  const events = [
    'event: message_start',
    'data: {"type":"message_start","message":{"id":"m1","model":"claude-x","usage":{"input_tokens":42,"cache_read_input_tokens":8,"output_tokens":1}}}',
    '',
    'event: content_block_delta',
    `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${'x'.repeat(70_000)}"}}`,
    '',
    'event: message_delta',
    'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":17}}',
    '',
  ].join('\n');

  it('reads a stream cut anywhere, skipping long content lines, the last usage numbers winning', () => {
    for (const size of [1, 7, 1000, events.length]) {
      const reader = new ModelCallUsageReader('text/event-stream; charset=utf-8');
      for (let i = 0; i < events.length; i += size) reader.push(Buffer.from(events.slice(i, i + size)));
      expect(reader.result(), `chunks of ${size}`).toEqual({ model: 'claude-x', tokens: { input: 42, cache_read_input: 8, output: 17 } });
    }
  });

  it('reads a JSON answer, and knows nothing of one that is not JSON or too large to hold', () => {
    const json = new ModelCallUsageReader('application/json');
    json.push(Buffer.from('{"model":"claude-y","usage":{"input_tokens":3,'));
    json.push(Buffer.from('"output_tokens":4,"cache_creation_input_tokens":null}}'));
    expect(json.result()).toEqual({ model: 'claude-y', tokens: { input: 3, output: 4 } });
    const broken = new ModelCallUsageReader('application/json');
    broken.push(Buffer.from('<html>bad gateway</html>'));
    expect(broken.result()).toEqual({ model: undefined, tokens: {} });
    const huge = new ModelCallUsageReader('application/json');
    huge.push(Buffer.from(`{"model":"claude-z","pad":"${'y'.repeat(1024 * 1024)}","usage":{"input_tokens":1}}`));
    expect(huge.result()).toEqual({ model: undefined, tokens: {} });
  });

  /** An answer as the gateway sees it: a stream with headers, its body sent in pieces. */
  function answer(headers: IncomingHttpHeaders, body: Buffer): PassThrough & { headers: IncomingHttpHeaders } {
    const stream = Object.assign(new PassThrough(), { headers });
    setImmediate(() => {
      for (let i = 0; i < body.length; i += 100) stream.write(body.subarray(i, i + 100));
      stream.end();
    });
    return stream;
  }

  it('decodes a compressed answer (gzip, deflate, br) to read it, and reads nothing of an encoding it does not know', async () => {
    const json = Buffer.from('{"model":"claude-y","usage":{"input_tokens":3,"output_tokens":4}}');
    const sse = Buffer.from(events);
    const passOn = (stream: PassThrough) => stream.resume();
    for (const [encoding, encode] of [['gzip', zlib.gzipSync], ['deflate', zlib.deflateSync], ['br', zlib.brotliCompressSync]] as const) {
      const a = answer({ 'content-type': 'application/json', 'content-encoding': encoding }, encode(json));
      const seen = readModelCallUsage(a);
      passOn(a);
      expect(await seen, encoding).toEqual({ model: 'claude-y', tokens: { input: 3, output: 4 } });
      const s2 = answer({ 'content-type': 'text/event-stream', 'content-encoding': encoding }, encode(sse));
      const streamed = readModelCallUsage(s2);
      passOn(s2);
      expect(await streamed, `${encoding} stream`).toEqual({ model: 'claude-x', tokens: { input: 42, cache_read_input: 8, output: 17 } });
    }
    const odd = answer({ 'content-type': 'application/json', 'content-encoding': 'zstd' }, json);
    const unknown = readModelCallUsage(odd);
    passOn(odd);
    expect(await unknown).toEqual({ model: undefined, tokens: {} });
  });
});
