import type http from 'node:http';
import { silentLogger, type Logger } from '../logger.js';
import { MODEL_ID_PATTERN, type ModelRateLimit, type ModelTicket } from '../redis/model-rate-limit.js';
import { sendApiError } from './local-server/http-io.js';
import type { MessagesBody } from './messages-body.js';
import type { ModelCallUsage } from './model-call-usage.js';
import { pausesModel, retryAfterHeaders, retryAfterMs } from './retry-after.js';
import { countRequestTokens } from './token-count.js';
import type { LlmRequest } from './types.js';

export interface GatewayRateLimitOptions {
  limiter: ModelRateLimit;
  /** How long a call waits for its place before the agent gets 429 with `retry-after` (its SDK retries). */
  maxWaitMs: number;
  logger?: Logger;
}

/** A Messages call the limit let through. */
export interface GatewayAdmission {
  /** Sees the upstream's answer as it starts: a 429 or 529 with `retry-after` pauses the model for every agent. */
  answered(answer: http.IncomingMessage): void;
  /** Settles the call's place with the tokens it used (the answer's usage, when it was read). */
  settle(usage: ModelCallUsage | undefined): void;
}

/**
 * The model gateway's side of the shared rate limit: looks at a Messages call's body, read whole by the
 * gateway (so its tokens are known before it is made: the prompt estimated, `max_tokens` reserved), waits for the model's
 * place in Redis, and after the answer settles the real tokens or, on a 429 with `retry-after`,
 * pauses the model for every agent of the network. A call that cannot get a place within
 * `maxWaitMs` is answered 429 with `retry-after`, which the SDKs retry, so a task does not fail for it.
 */
export class GatewayRateLimit {
  private readonly logger: Logger;

  constructor(private readonly options: GatewayRateLimitOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /** The admission of one call, or `answered` when the agent was answered here (refused, or gone). */
  async admit(body: MessagesBody, res: http.ServerResponse): Promise<GatewayAdmission | 'answered'> {
    const call = readCall(body);
    if (call === undefined) return { answered: () => undefined, settle: () => undefined };
    if (!MODEL_ID_PATTERN.test(call.model)) {
      sendApiError(res, 400, 'invalid_request_error', `model: '${call.model.slice(0, 40)}' is not a model id (1 to 128 letters, digits and ._:@-)`);
      return 'answered';
    }
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const outcome = await this.options.limiter.admit(call.model, call.tokens, this.options.maxWaitMs, gone.signal);
    if (gone.signal.aborted) return 'answered';
    if (!('model' in outcome)) {
      this.logger.info({ model: call.model, reason: outcome.reason, retryAfterMs: outcome.waitMs }, 'model call refused by the shared rate limit after its wait');
      sendApiError(res, 429, 'rate_limit_error',
        outcome.reason === 'paused'
          ? `the network paused calls to ${call.model} after the model API answered 429 or 529 with retry-after: retry after the pause (the SDK does by itself)`
          : `the network's shared rate limit of ${call.model} (${outcome.reason.replace('_', ' ')} per window, DAN_MODEL_RPM/DAN_MODEL_INPUT_TPM/DAN_MODEL_OUTPUT_TPM/DAN_MODEL_LIMITS) had no place within ${this.options.maxWaitMs} ms (DAN_MODEL_RATE_MAX_WAIT_MS): retry after retry-after (the SDK does by itself)`,
        retryAfterHeaders(outcome.waitMs));
      return 'answered';
    }
    return this.admission(outcome);
  }

  private admission(ticket: ModelTicket): GatewayAdmission {
    const { limiter } = this.options;
    // When the answer began: the API has counted the call by then, however long it took to get there.
    let answeredAfterMs = 0;
    return {
      answered: (answer) => {
        answeredAfterMs = performance.now() - (ticket.admittedAt ?? performance.now());
        if (!pausesModel(answer.statusCode)) return;
        const wait = retryAfterMs(answer.headers);
        if (wait === undefined) return;
        this.logger.warn({ model: ticket.model, status: answer.statusCode, retryAfterMs: wait }, `the model API answered ${answer.statusCode ?? '?'} with retry-after: calls of every agent to this model pause`);
        void limiter.pause(ticket.model, wait).catch((err: Error) => this.logger.warn({ err: err.message }, 'could not pause the model in Redis'));
      },
      settle: (usage) => {
        const t = usage?.tokens ?? {};
        const used = { input: (t.input ?? 0) + (t.cache_creation_input ?? 0), output: t.output ?? 0 };
        void limiter.settle(ticket, used, answeredAfterMs).catch((err: Error) => this.logger.debug({ err: err.message }, 'could not settle the model call\'s tokens in Redis'));
      },
    };
  }
}

/** The model and token estimate of a Messages call's body; undefined when it is not one (the upstream answers it). */
function readCall(body: MessagesBody): { model: string; tokens: { input: number; output: number } } | undefined {
  if (body.json === undefined) return undefined;
  const request = body.json as Partial<LlmRequest>;
  if (typeof request.model !== 'string') return undefined;
  const output = typeof request.max_tokens === 'number' && Number.isFinite(request.max_tokens) ? request.max_tokens : 0;
  let input = 0;
  try {
    input = countRequestTokens(request as LlmRequest);
  } catch {
    input = Math.ceil(body.raw.length / 4);
  }
  return { model: request.model, tokens: { input, output } };
}
