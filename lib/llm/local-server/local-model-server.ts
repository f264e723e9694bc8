import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { silentLogger, type Logger } from '../../logger.js';
import { scrubValue } from '../../scrub.js';
import { countRequestTokens } from '../token-count.js';
import type { LlmRequest, LlmUsage } from '../types.js';
import { streamEvents } from './build-response.js';
import { defaultRules } from './default-rules.js';
import { bearerToken, closeServer, listenOn, MAX_BODY_BYTES, readBody, redactedHeaders, sendApiError, sendEvents, sendJson } from './http-io.js';
import { LocalRateLimit, type LocalRateLimitOptions } from './local-rate-limit.js';
import type { Rule } from './rules.js';
import { ScriptedModel, type ScriptedAnswer } from './scripted-model.js';

/** One request as the server saw it; secrets in headers are replaced by `[redacted]`. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** The parsed JSON body, the raw text when it was not JSON, or null when empty. */
  body: unknown;
  /** ISO time the request arrived. */
  time: string;
  /** HTTP status answered. */
  status: number;
  /** The rule that answered a messages request (absent for the fallback and other routes). */
  rule?: string;
  /** What a messages answer used, as its `usage` said (absent for errors and other routes): what each call cost, for tests of budgets. */
  usage?: LlmUsage;
}

/** How the server answers and where its recordings go. */
export interface LocalModelServerOptions {
  /** Default: `defaultRules()`, the offline demo's behaviour. */
  rules?: readonly Rule[];
  logger?: Logger;
  /** Called once per request after it was answered; `dan mock-llm --record` appends these to a file. */
  onRequest?: (request: RecordedRequest) => void;
  /** Oldest recordings are dropped past this many; default 10 000. */
  maxRecorded?: number;
  /** Oldest recordings are also dropped past this many bytes of bodies in all; default 64 MiB. */
  maxRecordedBytes?: number;
  /** Larger request bodies are answered 413 unread (DAN_LOCAL_LLM_MAX_BODY_BYTES); default 32 MiB. */
  maxBodyBytes?: number;
  /**
   * Serve `GET/DELETE /_dan/requests` (every recorded prompt) over HTTP. Off by default: the port has
   * no authentication and any local user (any container, on the compose network) can reach it, so the
   * network's own server keeps its recording in memory (`requests`). `dan mock-llm` and tests that
   * read the recording over HTTP turn it on.
   */
  serveRequests?: boolean;
  /**
   * Answer `/v1/*` only to requests bearing this key (`x-api-key` or `Authorization: Bearer`); others
   * get 401. The server a network starts for itself sets one that only its main orchestrator and
   * model gateway know, so a process that merely reaches the port (a domain container on the host
   * network) gets no answers. Unset: any key, as `dan mock-llm` and the SDKs' tests expect.
   */
  apiKey?: string;
  /** Requests and tokens per window past which Messages calls get 429 with `retry-after`, as the API's. */
  rateLimit?: LocalRateLimitOptions;
}

// 64 MiB of recorded bodies: tests read a few requests back, and the server may face anyone on loopback.
const DEFAULT_MAX_RECORDED_BYTES = 64 * 1024 * 1024;

/** Where the server listens. */
export interface LocalModelServerStartOptions {
  /** 0 (the default) asks the kernel for a free port. */
  port?: number;
  /** Default 127.0.0.1: the server has no authentication, so it stays on loopback unless asked. */
  host?: string;
}

/** Models `GET /v1/models` lists; any model id is accepted in requests. */
export const LOCAL_MODELS = ['claude-opus-5-5', 'claude-sonnet-5-5', 'claude-haiku-5-5'] as const;

const block = z.looseObject({ type: z.string() });
const content = z.union([z.string(), z.array(block)]);
const countSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant', 'system']), content })),
  system: content.optional(),
  tools: z.array(z.looseObject({ name: z.string().min(1) })).optional(),
});
const messagesSchema = countSchema.extend({ max_tokens: z.number().int().positive(), stream: z.boolean().optional() });

/**
 * A local server that speaks the Anthropic Messages API and answers from scripted rules: the
 * offline demo's model, and a stand-in for users' own tests of anything that talks to Claude
 * (our `AnthropicLlmClient`, the official SDKs, the Claude Code CLI). It records every request
 * so tests can assert what a client sent (the control routes under `/_dan/` are not recorded; they
 * answer only with `serveRequests`). No authentication: any key is accepted.
 */
export class LocalModelServer {
  private readonly model: ScriptedModel;
  private readonly logger: Logger;
  private readonly recorded: RecordedRequest[] = [];
  /** Body sizes of `recorded`, in step with it, and their sum. */
  private readonly recordedSizes: number[] = [];
  private recordedBytes = 0;
  private server: http.Server | undefined;
  private address: string | undefined;
  private requestCount = 0;
  private readonly limit: LocalRateLimit | undefined;

  constructor(private readonly options: LocalModelServerOptions = {}) {
    this.model = new ScriptedModel(options.rules ?? defaultRules());
    this.logger = options.logger ?? silentLogger;
    this.limit = options.rateLimit ? new LocalRateLimit(options.rateLimit) : undefined;
  }

  /** The base URL once started (`http://127.0.0.1:PORT`), for ANTHROPIC_BASE_URL or DAN_LLM_URL. */
  get url(): string | undefined {
    return this.address;
  }

  /** Recorded requests, oldest first (a copy). */
  get requests(): RecordedRequest[] {
    return this.recorded.map((r) => ({ ...r }));
  }

  clearRequests(): void {
    this.recorded.length = 0;
    this.recordedSizes.length = 0;
    this.recordedBytes = 0;
  }

  /** Replaces the rules; `times` counts start over. */
  setRules(rules: readonly Rule[]): void {
    this.model.setRules(rules);
  }

  async start(options: LocalModelServerStartOptions = {}): Promise<string> {
    if (this.address) return this.address;
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? 0;
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        // Only reading the body can fail here (the client went away); there is nobody to answer.
        this.logger.debug({ err: error }, 'request body could not be read');
        res.destroy();
      });
    });
    const address = await listenOn(server, host, port, 'pass another --port, or --port 0 for a free one');
    this.server = server;
    this.address = address;
    this.logger.info({ url: address }, 'local model server listening');
    return address;
  }

  /** Closes the listener and every open connection (keep-alive clients included). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.address = undefined;
    await closeServer(server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const method = req.method ?? 'GET';
    const maxBodyBytes = this.options.maxBodyBytes ?? MAX_BODY_BYTES;
    const arrived = new Date().toISOString();
    const text = await readBody(req, maxBodyBytes);
    if (url.pathname.startsWith('/_dan/')) return this.handleControl(method, url.pathname, res);
    if (this.options.apiKey !== undefined && bearerToken(req.headers) !== this.options.apiKey) {
      sendApiError(res, 401, 'authentication_error', 'this local model server answers only its own network\'s model gateway: call the gateway with your agent\'s token', { connection: 'close' });
      return;
    }

    this.requestCount += 1;
    const record: RecordedRequest = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: redactedHeaders(req.headers),
      body: parseBody(text),
      time: arrived,
      status: 0,
    };
    const headers = { 'request-id': `req_local_${String(this.requestCount).padStart(6, '0')}` };
    try {
      if (text === undefined) {
        sendApiError(res, 413, 'request_too_large', `request body is larger than ${maxBodyBytes} bytes (DAN_LOCAL_LLM_MAX_BODY_BYTES)`,
          { ...headers, connection: 'close' });
      } else {
        this.route(method, url.pathname, text, record, res, headers);
      }
    } catch (error) {
      this.logger.error({ err: error, path: url.pathname }, 'local model server failed a request');
      if (!res.headersSent) sendApiError(res, 500, 'api_error', `local model server error: ${(error as Error).message}`, headers);
      else res.end();
    } finally {
      record.status = res.statusCode;
      this.store(record, text?.length ?? 0);
    }
  }

  private route(method: string, pathname: string, text: string | undefined, record: RecordedRequest, res: ServerResponse, headers: Record<string, string>): void {
    const route = `${method} ${pathname}`;
    // `/api/hello` is the connectivity check the Claude Code CLI makes before its first request.
    if ((method === 'GET' || method === 'HEAD') && (pathname === '/' || pathname === '/api/hello')) {
      return sendJson(res, 200, { name: 'dan local model server', scripted: true }, headers);
    }
    if (route === 'GET /v1/models') {
      const data = LOCAL_MODELS.map(modelInfo);
      return sendJson(res, 200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null }, headers);
    }
    if (method === 'GET' && pathname.startsWith('/v1/models/')) {
      const id = decodeURIComponent(pathname.slice('/v1/models/'.length));
      return sendJson(res, 200, modelInfo(id), headers);
    }
    if (route === 'POST /v1/messages' || route === 'POST /v1/messages/count_tokens') {
      if (typeof record.body === 'string') return sendApiError(res, 400, 'invalid_request_error', 'request body is not valid JSON', headers);
      if (record.body === null || typeof record.body !== 'object' || Array.isArray(record.body)) {
        return sendApiError(res, 400, 'invalid_request_error', 'request body must be a JSON object', headers);
      }
      const counting = pathname.endsWith('/count_tokens');
      const parsed = (counting ? countSchema : messagesSchema).safeParse(record.body);
      if (!parsed.success) {
        const problem = parsed.error.issues[0];
        return sendApiError(res, 400, 'invalid_request_error', `${problem?.path.join('.') ?? 'body'}: ${problem?.message ?? 'invalid'}`, headers);
      }
      const request = parsed.data as unknown as LlmRequest & { stream?: boolean };
      if (counting) return sendJson(res, 200, { input_tokens: countRequestTokens(request) }, headers);
      return this.answerMessages(request, record, res, headers);
    }
    sendApiError(res, 404, 'not_found_error', `the local model server has no route ${method} ${pathname}`, headers);
  }

  private answerMessages(request: LlmRequest & { stream?: boolean }, record: RecordedRequest, res: ServerResponse, headers: Record<string, string>): void {
    const place = this.limit?.take(countRequestTokens(request));
    if (place && 'refused' in place) return sendApiError(res, 429, 'rate_limit_error', place.refused.message, { ...headers, ...place.refused.headers });
    const answer = this.model.answer(request);
    place?.settle(answer.message?.usage.output_tokens ?? 0);
    if (answer.rule !== undefined) record.rule = answer.rule;
    if (answer.message) record.usage = answer.message.usage;
    if (answer.delayMs) {
      // A scripted slow model; a client that hangs up meanwhile gets nothing.
      const timer = setTimeout(() => { if (!res.destroyed) this.send(answer, request, res, headers); }, answer.delayMs);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    this.send(answer, request, res, headers);
  }

  private send(answer: ScriptedAnswer, request: LlmRequest & { stream?: boolean }, res: ServerResponse, headers: Record<string, string>): void {
    this.logger.debug({ rule: answer.rule ?? 'fallback', stream: request.stream === true }, 'scripted answer');
    if (answer.error) {
      const retry = answer.error.retry_after_ms;
      const extra: Record<string, string> = retry === undefined ? {} : { 'retry-after-ms': String(retry), 'retry-after': String(Math.ceil(retry / 1000)) };
      return sendApiError(res, answer.error.status, answer.error.type, answer.error.message, { ...headers, ...extra });
    }
    if (request.stream === true) return sendEvents(res, streamEvents(answer.message), headers);
    sendJson(res, 200, answer.message, headers);
  }

  private handleControl(method: string, pathname: string, res: ServerResponse): void {
    // Without serveRequests the route does not exist, the same answer as any unknown path.
    if (this.options.serveRequests !== true) return sendApiError(res, 404, 'not_found_error', `the local model server has no route ${method} ${pathname}`);
    if (pathname === '/_dan/requests' && method === 'GET') return sendJson(res, 200, this.requests);
    if (pathname === '/_dan/requests' && method === 'DELETE') {
      const cleared = this.recorded.length;
      this.clearRequests();
      return sendJson(res, 200, { cleared });
    }
    sendApiError(res, 404, 'not_found_error', `the local model server has no route ${method} ${pathname}`);
  }

  /** Keeps a request, its body scrubbed: the recording is readable on `/_dan/requests` and may go to a file. */
  private store(raw: RecordedRequest, size: number): void {
    const record = { ...raw, body: scrubValue(raw.body) };
    this.recorded.push(record);
    this.recordedSizes.push(size);
    this.recordedBytes += size;
    const max = this.options.maxRecorded ?? 10_000;
    const maxBytes = this.options.maxRecordedBytes ?? DEFAULT_MAX_RECORDED_BYTES;
    while (this.recorded.length > max || (this.recordedBytes > maxBytes && this.recorded.length > 0)) {
      this.recorded.shift();
      this.recordedBytes -= this.recordedSizes.shift() ?? 0;
    }
    this.options.onRequest?.({ ...record });
  }
}

function parseBody(text: string | undefined): unknown {
  if (text === undefined || text.length === 0) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function modelInfo(id: string): Record<string, string> {
  return { type: 'model', id, display_name: `${id} (local scripted)`, created_at: '2026-01-01T00:00:00Z' };
}
