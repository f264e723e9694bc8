import http from 'node:http';
import https from 'node:https';
import { Transform, type TransformCallback } from 'node:stream';

/** Where the gateway sends calls on, with the key it alone holds. */
export interface Upstream {
  /** The Anthropic API, ANTHROPIC_BASE_URL, or the local model server; a path prefix is kept. */
  baseUrl: string;
  apiKey: string;
}

export interface ForwardOptions {
  upstream: Upstream;
  maxBodyBytes: number;
  /** Answers the agent with an API error and closes the connection (nothing was forwarded yet). */
  refuse: (status: number, type: string, message: string) => void;
  /** Sees the upstream's answer as it starts (before it is passed on), to read it alongside. */
  onAnswer?: (answer: http.IncomingMessage) => void;
  /** The request body, when the gateway has already read it whole (for the rate limit or a budget): sent instead of the request stream. */
  body?: Buffer;
  /** Runs once the whole answer has arrived, before its end is passed on: what it records is in place before the caller sees the call end. */
  beforeEnd?: () => Promise<void>;
}

// Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection, and the caller's credentials stay here.
const DROPPED_REQUEST = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'x-api-key', 'authorization']);
const DROPPED_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** The upstream URL of an agent's request path (`/v1/messages?beta=true`), under the upstream's own path. */
export function upstreamUrl(base: string, requestPath: string): URL {
  const url = new URL(base);
  const prefix = url.pathname.replace(/\/+$/, '');
  const [pathname = '', query] = requestPath.split('?', 2);
  url.pathname = `${prefix}${pathname}`;
  url.search = query === undefined ? '' : `?${query}`;
  return url;
}

/** Counts the bytes going through and fails the stream once there are more than `max`. */
class ByteCap extends Transform {
  private seen = 0;
  exceeded = false;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.max) {
      this.exceeded = true;
      done(new Error(`request body is larger than ${this.max} bytes`));
      return;
    }
    done(null, chunk);
  }
}

/**
 * Passes chunks on one behind, and the last only once `before` has run: a client that stops reading
 * at Content-Length, not at the end of the stream, still sees the call end after it.
 */
class HoldLast extends Transform {
  private held: Buffer | undefined;
  constructor(private readonly before: () => Promise<void>) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const previous = this.held;
    this.held = chunk;
    done(null, previous);
  }
  override _flush(done: TransformCallback): void {
    void this.before().finally(() => done(null, this.held));
  }
}

/**
 * Streams one request to the upstream with the real key in place of the agent's token, and streams
 * the answer back as it comes (server-sent events are passed on event by event, never buffered), so
 * the gateway holds at most a chunk of any body. Resolves with the status the agent got.
 */
export function forwardRequest(req: http.IncomingMessage, res: http.ServerResponse, options: ForwardOptions): Promise<number> {
  const target = upstreamUrl(options.upstream.baseUrl, req.url ?? '/');
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !DROPPED_REQUEST.has(name)) headers[name] = value;
  headers['x-api-key'] = options.upstream.apiKey;
  if (options.body) headers['content-length'] = String(options.body.length);
  const send = target.protocol === 'https:' ? https.request : http.request;
  return new Promise<number>((resolve) => {
    const cap = new ByteCap(options.maxBodyBytes);
    const outgoing = send(target, { method: req.method, headers }, (answer) => {
      const status = answer.statusCode ?? 502;
      const kept: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !DROPPED_RESPONSE.has(name)) kept[name] = value;
      res.writeHead(status, kept);
      // Server-sent events go out as they arrive: no Nagle delay between small writes.
      res.socket?.setNoDelay(true);
      options.onAnswer?.(answer);
      if (options.beforeEnd) answer.pipe(new HoldLast(options.beforeEnd)).pipe(res);
      else answer.pipe(res);
      answer.once('error', () => res.destroy());
      res.once('close', () => {
        answer.destroy();
        resolve(status);
      });
    });
    outgoing.once('error', (error: NodeJS.ErrnoException) => {
      if (res.headersSent) {
        res.destroy();
      } else if (cap.exceeded) {
        options.refuse(413, 'request_too_large', `request body is larger than ${options.maxBodyBytes} bytes (DAN_GATEWAY_MAX_BODY_BYTES)`);
      } else {
        options.refuse(502, 'api_error', `the model gateway cannot reach the model API at ${target.origin} (${error.code ?? error.message}): check ANTHROPIC_BASE_URL in the main orchestrator's environment`);
      }
      resolve(res.headersSent ? res.statusCode : 502);
    });
    cap.once('error', (error) => outgoing.destroy(error));
    // The agent went away mid-call: the upstream call is dropped too, so no one pays for an unread answer.
    req.once('aborted', () => outgoing.destroy());
    res.once('close', () => { if (!res.writableFinished) outgoing.destroy(); });
    if (options.body) outgoing.end(options.body);
    else req.pipe(cap).pipe(outgoing);
  });
}
