import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { Message as SdkMessage, MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages/messages';
import { silentLogger, type Logger } from '../logger.js';
import { TASK_HEADER, WORKER_HEADER } from './attribution-headers.js';
import { boundedFetch } from './bounded-fetch.js';
import type { LlmClient } from './llm-client.js';
import { LlmError, LlmErrorCode } from './llm-error.js';
import type { LlmCallOptions, LlmRequest, LlmResponse, StopReason, TextBlock, ToolUseBlock } from './types.js';

/** 16 MiB: 128k output tokens are well under 1 MB of JSON; far more is a broken or hostile server. */
const DEFAULT_MAX_REPLY_BYTES = 16 * 1024 * 1024;

/** Used when neither the options nor ANTHROPIC_BASE_URL name a server. */
export const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';

/** Settings of `AnthropicLlmClient`; each falls back to the environment, then to a default. */
export interface AnthropicLlmClientOptions {
  /** Default: ANTHROPIC_API_KEY from the environment; without either, construction fails with what to do. */
  apiKey?: string;
  /** Default: ANTHROPIC_BASE_URL, else the public API. Point it at `dan mock-llm` to run offline. */
  baseURL?: string;
  /** Retries the SDK itself makes on 408/409/429/5xx and connection errors, with backoff. Default 4. */
  maxRetries?: number;
  /** Per attempt. Default 10 minutes, the SDK's ceiling for a non-streamed answer. */
  timeoutMs?: number;
  /** Stream the answer and assemble it; needed for very large `max_tokens`, where the API refuses to wait. Default false. */
  streaming?: boolean;
  /** Replies over this many bytes fail, not retried (DAN_MAX_MODEL_REPLY_BYTES; 0: no limit). Default 16 MiB. */
  maxReplyBytes?: number;
  logger?: Logger;
}

interface ResolvedOptions {
  apiKey: string;
  baseURL: string;
  maxRetries: number;
  timeoutMs: number;
  streaming: boolean;
  maxReplyBytes: number;
  logger: Logger;
}

/**
 * The Anthropic Messages API (or any server that speaks it, such as the local model server)
 * behind our `LlmClient` interface. The only module that imports `@anthropic-ai/sdk`: requests and
 * answers are our own types, and every SDK failure comes out as an `LlmError` whose message says
 * what to do. Retries of temporary failures are the SDK's; the error that escapes is final.
 */
export class AnthropicLlmClient implements LlmClient {
  readonly name = 'anthropic';
  private readonly options: ResolvedOptions;
  private readonly sdk: Anthropic;

  constructor(options: AnthropicLlmClientOptions = {}, env: NodeJS.ProcessEnv = process.env) {
    this.options = resolveOptions(options, env);
    const logger = this.options.logger;
    this.sdk = new Anthropic({
      apiKey: this.options.apiKey,
      baseURL: this.options.baseURL,
      maxRetries: this.options.maxRetries,
      timeout: this.options.timeoutMs,
      fetch: boundedFetch(this.options.maxReplyBytes),
      logLevel: 'warn',
      logger: {
        error: (message, ...rest) => logger.error({ details: rest }, message),
        warn: (message, ...rest) => logger.warn({ details: rest }, message),
        info: (message, ...rest) => logger.info({ details: rest }, message),
        debug: (message, ...rest) => logger.debug({ details: rest }, message),
      },
    });
  }

  /** Where requests go, for messages and logs. */
  get baseURL(): string {
    return this.options.baseURL;
  }

  async createMessage(request: LlmRequest, options: LlmCallOptions = {}): Promise<LlmResponse> {
    // Our request types are a subset of the wire format, which is what the SDK's types describe.
    const params = { ...request, stream: false } as unknown as MessageCreateParamsNonStreaming;
    const requestOptions = {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.attribution ? { headers: { [TASK_HEADER]: options.attribution.taskId, [WORKER_HEADER]: options.attribution.worker } } : {}),
    };
    const started = Date.now();
    try {
      const message = this.options.streaming
        ? await this.sdk.messages.stream(params, requestOptions).finalMessage()
        : await this.sdk.messages.create(params, requestOptions);
      const response = fromSdkMessage(message);
      this.options.logger.debug(
        { model: response.model, stopReason: response.stop_reason, usage: response.usage, durationMs: Date.now() - started },
        'model answered',
      );
      return response;
    } catch (error) {
      throw toLlmError(error, this.options.baseURL, this.options.timeoutMs);
    }
  }
}

function resolveOptions(options: AnthropicLlmClientOptions, env: NodeJS.ProcessEnv): ResolvedOptions {
  const apiKey = options.apiKey ?? env['ANTHROPIC_API_KEY'];
  if (!apiKey) {
    throw new LlmError(
      LlmErrorCode.auth,
      "ANTHROPIC_API_KEY is not set: export it to use the Anthropic API, or set DAN_LLM=local to use the local scripted model ('dan mock-llm')",
    );
  }
  const maxRetries = options.maxRetries ?? 4;
  const timeoutMs = options.timeoutMs ?? 600_000;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new LlmError(LlmErrorCode.other, `maxRetries must be a whole number >= 0, got ${maxRetries}`);
  if (!(timeoutMs > 0)) throw new LlmError(LlmErrorCode.other, `timeoutMs must be > 0, got ${timeoutMs}`);
  return {
    apiKey,
    baseURL: (options.baseURL ?? env['ANTHROPIC_BASE_URL'] ?? ANTHROPIC_DEFAULT_BASE_URL).replace(/\/+$/, ''),
    maxRetries,
    timeoutMs,
    streaming: options.streaming ?? false,
    maxReplyBytes: options.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES,
    logger: options.logger ?? silentLogger,
  };
}

const STOP_REASONS = new Set<string>(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal']);

/** Keeps the blocks the network uses (text, tool_use); thinking and server-tool blocks are dropped. */
function fromSdkMessage(message: SdkMessage): LlmResponse {
  const content: (TextBlock | ToolUseBlock)[] = [];
  for (const block of message.content) {
    if (block.type === 'text') content.push({ type: 'text', text: block.text });
    else if (block.type === 'tool_use') content.push({ type: 'tool_use', id: block.id, name: block.name, input: (block.input ?? {}) as Record<string, unknown> });
  }
  const reason = message.stop_reason;
  // A context-window stop means the same thing to callers as running out of output tokens.
  const stop_reason: StopReason = reason === null ? null : STOP_REASONS.has(reason) ? (reason as StopReason) : 'max_tokens';
  return {
    id: message.id,
    model: message.model,
    role: 'assistant',
    content,
    stop_reason,
    usage: {
      input_tokens: message.usage.input_tokens,
      output_tokens: message.usage.output_tokens,
      cache_creation_input_tokens: message.usage.cache_creation_input_tokens ?? null,
      cache_read_input_tokens: message.usage.cache_read_input_tokens ?? null,
    },
  };
}

/** SDK failure to `LlmError`. Exported for the client's tests; callers only ever see the result. */
export function toLlmError(error: unknown, baseURL: string, timeoutMs: number): LlmError {
  if (error instanceof LlmError) return error;
  if (error instanceof APIUserAbortError) return LlmError.aborted(error);
  if (error instanceof APIConnectionTimeoutError) return LlmError.timeout(baseURL, timeoutMs, error);
  if (error instanceof APIConnectionError) return LlmError.unreachable(baseURL, connectionReason(error), error);
  if (error instanceof APIError && typeof error.status === 'number') {
    const detail = error.apiMessage ?? error.message;
    return LlmError.fromStatus(error.status, detail, { ...(error.type ? { errorType: error.type } : {}), baseUrl: baseURL, cause: error });
  }
  if (error instanceof Error && error.name === 'AbortError') return LlmError.aborted(error);
  // A 200 whose body does not parse: whatever answers at the URL is not a Messages API (a proxy, a
  // web page), so trying again would get the same.
  if (error instanceof SyntaxError) {
    return new LlmError(
      LlmErrorCode.other,
      `the model API at ${baseURL} answered with a body that is not a Messages API reply (${error.message}): check that ANTHROPIC_BASE_URL (or DAN_LLM_URL) points at the Messages API`,
      { retryable: false, cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new LlmError(LlmErrorCode.other, `the model call failed: ${message}`, { cause: error });
}

/** The system error code deepest in the cause chain (ECONNREFUSED, ENOTFOUND, ...), else the SDK's message. */
function connectionReason(error: Error): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code === 'ECONNREFUSED' ? 'connection refused' : code;
    current = (current as { cause?: unknown }).cause;
  }
  return error.message;
}
