import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { TokenKind } from '../redis/task-metrics.js';

/** What a model answer said of itself: the model that answered and the tokens of the call by kind. */
export interface ModelCallUsage {
  model: string | undefined;
  tokens: Partial<Record<TokenKind, number>>;
}

// 1 MiB of a JSON answer is read for its usage; a larger one is passed on uncounted (model and tokens unknown).
const MAX_JSON_BYTES = 1024 * 1024;
// An event line longer than this is a content delta, never the message_start or message_delta wanted here.
const MAX_EVENT_LINE_BYTES = 64 * 1024;

const USAGE_FIELDS: Record<string, TokenKind> = {
  input_tokens: 'input', output_tokens: 'output', cache_creation_input_tokens: 'cache_creation_input', cache_read_input_tokens: 'cache_read_input',
};

/**
 * Reads a Messages API answer as it streams past the model gateway, for the metrics: the model and
 * `usage` of a JSON answer, or of a stream's `message_start` and `message_delta` events (whose usage
 * numbers are running totals, so the last one wins). Holds at most one event line or 1 MiB of JSON;
 * anything it cannot read leaves the model and tokens unknown, never the answer changed.
 */
export class ModelCallUsageReader {
  private readonly streamed: boolean;
  private readonly parts: Buffer[] = [];
  private held = 0;
  private overflow = false;
  private line = '';
  private skipping = false;
  private readonly usage: ModelCallUsage = { model: undefined, tokens: {} };

  constructor(contentType: string | undefined) {
    this.streamed = (contentType ?? '').includes('text/event-stream');
  }

  push(chunk: Buffer): void {
    if (!this.streamed) {
      this.held += chunk.length;
      if (this.held > MAX_JSON_BYTES) this.overflow = true;
      if (!this.overflow) this.parts.push(chunk);
      return;
    }
    let text = chunk.toString('utf8');
    while (text.length > 0) {
      const end = text.indexOf('\n');
      const piece = end === -1 ? text : text.slice(0, end);
      text = end === -1 ? '' : text.slice(end + 1);
      if (!this.skipping) this.line += piece;
      if (this.line.length > MAX_EVENT_LINE_BYTES) {
        this.line = '';
        this.skipping = true;
      }
      if (end === -1) break;
      if (!this.skipping) this.readEventLine(this.line);
      this.line = '';
      this.skipping = false;
    }
  }

  /** What was read, once the answer ended. */
  result(): ModelCallUsage {
    if (!this.streamed && !this.overflow && this.parts.length > 0) {
      const message = parseObject(Buffer.concat(this.parts).toString('utf8'));
      if (message) this.take(message);
    }
    return this.usage;
  }

  private readEventLine(line: string): void {
    if (!line.startsWith('data:') || !(line.includes('"message_start"') || line.includes('"message_delta"'))) return;
    const event = parseObject(line.slice(5).trim());
    if (event?.['type'] === 'message_start') this.take(asObject(event['message']) ?? {});
    else if (event?.['type'] === 'message_delta') this.take({ usage: event['usage'] });
  }

  private take(message: Record<string, unknown>): void {
    if (typeof message['model'] === 'string') this.usage.model = message['model'];
    const usage = asObject(message['usage']);
    for (const [field, kind] of Object.entries(USAGE_FIELDS)) {
      const n = usage?.[field];
      if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) this.usage.tokens[kind] = n;
    }
  }
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    return asObject(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** The decoder of a `content-encoding` the model API may answer with; null for one it cannot read. */
function decoderFor(encoding: string | string[] | undefined): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined | null {
  const name = String(encoding ?? '').trim().toLowerCase();
  if (name === '' || name === 'identity') return undefined;
  if (name === 'gzip' || name === 'x-gzip') return zlib.createGunzip();
  if (name === 'deflate') return zlib.createInflate();
  if (name === 'br') return zlib.createBrotliDecompress();
  return null;
}

/**
 * Reads an answer alongside whoever else consumes it (the gateway pipes it on to the agent), decoded
 * when it came compressed, and resolves with what it said of itself once it ended, broke off or
 * failed to decode (then whatever was read by then, or nothing).
 */
export function readModelCallUsage(answer: Readable & { headers: IncomingHttpHeaders }): Promise<ModelCallUsage> {
  const reader = new ModelCallUsageReader(answer.headers['content-type']);
  const decoder = decoderFor(answer.headers['content-encoding']);
  return new Promise((resolve) => {
    const done = (): void => resolve(reader.result());
    if (decoder === null) {
      answer.once('close', () => resolve({ model: undefined, tokens: {} }));
      return;
    }
    const source = decoder ? answer.pipe(decoder) : answer;
    source.on('data', (chunk: Buffer) => reader.push(chunk));
    source.once('end', done);
    source.once('error', done);
    // Cut off (the agent went away): what has arrived is decoded, and read.
    answer.once('close', () => {
      if (!decoder) done();
      else if (!decoder.writableEnded) decoder.end();
    });
  });
}
