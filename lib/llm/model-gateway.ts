import http from 'node:http';
import { silentLogger, type Logger } from '../logger.js';
import type { TokenCheck } from '../redis/gateway-tokens.js';
import type { ModelCallRecord } from '../redis/task-metrics.js';
import type { GatewayRateLimit } from './gateway-rate-limit.js';
import { parseMessagesBody, type MessagesBody } from './messages-body.js';
import { readModelCallUsage, type ModelCallUsage } from './model-call-usage.js';
import type { Caller, CallTicket, GatewayCostHooks } from './cost-control.js';
import { bearerToken, closeServer, listenOn, readBodyBytes, sendApiError } from './local-server/http-io.js';

export { bearerToken };
import { forwardRequest, type Upstream } from './model-gateway-forward.js';

/** 32 MiB: the real API's request limit. */
export const GATEWAY_MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface ModelGatewayOptions {
  /** Where calls go on, and the key they go with: the only place that key is used. */
  upstream: Upstream;
  /** Whether a bearer's token is live. */
  tokens: TokenCheck;
  /** Request bodies forwarded at most; larger ones are answered 413. Default 32 MiB. */
  maxBodyBytes?: number;
  logger?: Logger;
  /** Each Messages API call once its answer ended: the model, the status, the duration and the tokens (for the metrics). */
  onCall?: (call: ModelCallRecord) => void;
  /** The network's shared rate limit, which Messages calls wait for before they are forwarded. */
  rateLimit?: GatewayRateLimit;
  /** Prices and budgets (lib/llm/cost-control.ts): asked before each Messages call is forwarded, told its usage after. */
  costs?: GatewayCostHooks;
}

/**
 * The calls the Anthropic SDK and the Claude Code CLI make (`?beta=true` and other queries pass):
 * messages, streamed or not, token counts, and the model list. Anything else is not the model's.
 */
const FORWARDED = [
  { method: 'POST', path: /^\/v1\/messages(\/count_tokens)?$/ },
  { method: 'GET', path: /^\/v1\/models(\/[A-Za-z0-9._:@-]+)?$/ },
] as const;

/**
 * The one door to the model for the agents a main orchestrator spawns. It holds the model key (or
 * the local model server's address) and forwards an agent's call only when it bears a token the
 * network issued and has not revoked, so an agent, and whatever runs inside it, never sees the key:
 * a leaked token is worth that network's calls while its agent lives, and nothing else.
 */
export class ModelGateway {
  private readonly logger: Logger;
  private readonly maxBodyBytes: number;
  private server: http.Server | undefined;
  private address: string | undefined;

  constructor(private readonly options: ModelGatewayOptions) {
    this.logger = options.logger ?? silentLogger;
    this.maxBodyBytes = options.maxBodyBytes ?? GATEWAY_MAX_BODY_BYTES;
  }

  /** The base URL once started (`http://127.0.0.1:PORT`). */
  get url(): string | undefined {
    return this.address;
  }

  async start(host = '127.0.0.1', port = 0): Promise<string> {
    if (this.address) return this.address;
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.logger.warn({ err: error }, 'model gateway request failed');
        if (!res.headersSent) sendApiError(res, 502, 'api_error', `the model gateway failed: ${(error as Error).message}`, { connection: 'close' });
        else res.destroy();
      });
    });
    const address = await listenOn(server, host, port, 'set DAN_GATEWAY_LISTEN to another host:port, or leave it unset for a free port');
    this.server = server;
    this.address = address;
    this.logger.info({ url: address }, 'model gateway listening');
    return address;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.address = undefined;
    await closeServer(server);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Refusals close the connection: the body they did not read is not worth reading.
    const refuse = (status: number, type: string, message: string): void => sendApiError(res, status, type, message, { connection: 'close' });
    const token = bearerToken(req.headers);
    if (token === undefined) {
      refuse(401, 'authentication_error', 'the model gateway needs a token (x-api-key or Authorization: Bearer): agents get theirs in ANTHROPIC_API_KEY from the main orchestrator that spawns them; start agents with dan up');
      return;
    }
    const record = await this.options.tokens.check(token);
    if (!record) {
      refuse(401, 'authentication_error', 'the model gateway token is unknown or revoked (a token lives as long as the agent it was issued to): let the main orchestrator start the agent again, which issues a new one (for the always-on domains of compose: set a new DAN_GATEWAY_COMPOSE_TOKEN in .env and recreate main and them)');
      return;
    }
    const [pathname] = (req.url ?? '/').split('?');
    if (!FORWARDED.some((f) => f.method === req.method && f.path.test(pathname ?? ''))) {
      refuse(404, 'not_found_error', `the model gateway forwards only POST /v1/messages, POST /v1/messages/count_tokens and GET /v1/models, not ${req.method ?? '?'} ${pathname ?? ''}`);
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.maxBodyBytes) {
      refuse(413, 'request_too_large', `request body is larger than ${this.maxBodyBytes} bytes (DAN_GATEWAY_MAX_BODY_BYTES)`);
      return;
    }
    const { rateLimit, costs: costHooks } = this.options;
    const messages = pathname === '/v1/messages' && req.method === 'POST';
    // Read whole when the rate limit or a budget must see the call first (its model, prompt and max_tokens).
    let body: MessagesBody | undefined;
    if (messages && (rateLimit || costHooks)) {
      const raw = await readBodyBytes(req, this.maxBodyBytes);
      if (raw === undefined) {
        refuse(413, 'request_too_large', `request body is larger than ${this.maxBodyBytes} bytes (DAN_GATEWAY_MAX_BODY_BYTES)`);
        return;
      }
      // Parsed once, for both.
      body = parseMessagesBody(raw, req.headers['content-encoding']);
    }
    // The budget before the rate limit: a call no budget allows takes no place in the limit.
    const costs = messages ? costHooks : undefined;
    const costed = costs && body ? await this.checkCost(costs, record, req, body, res) : undefined;
    if (costed === 'refused') return;
    // Its cost is recorded before the answer's end reaches the caller, so a task that ends right after its last call finds that call counted.
    let settled = false;
    let usage: Promise<ModelCallUsage> | undefined;
    const settle = async (): Promise<void> => {
      if (!costs || !costed || settled) return;
      settled = true;
      const seen = await usage;
      await costs.after(costed.ticket, seen?.model, seen?.tokens ?? {}).catch((err: Error) => this.logger.warn({ err: err.message, agentId: record.agentId }, 'could not record the cost of a model call'));
    };
    const admitted = rateLimit && body ? await rateLimit.admit(body, res) : undefined;
    if (admitted === 'answered') {
      // Refused or gone while it waited: the budget's reservation goes back.
      await settle();
      return;
    }
    // Messages calls are metered as they pass: the one place every agent's model call goes through.
    const metered = (this.options.onCall !== undefined || admitted !== undefined) && pathname === '/v1/messages';
    const started = Date.now();
    const onAnswer = (answer: http.IncomingMessage): void => {
      usage = readModelCallUsage(answer);
      admitted?.answered(answer);
    };
    const status = await forwardRequest(req, res, {
      upstream: this.options.upstream, maxBodyBytes: this.maxBodyBytes, refuse,
      ...(metered || costed ? { onAnswer } : {}), ...(body ? { body: body.raw } : {}), ...(costed ? { beforeEnd: settle } : {}),
    });
    // A call that broke before its answer ended still gives its reservation back.
    await settle();
    if (metered) {
      const durationMs = Date.now() - started;
      const seen = await usage;
      admitted?.settle(seen);
      this.options.onCall?.({ model: seen?.model ?? 'unknown', status: String(status), durationMs, tokens: seen?.tokens ?? {} });
    }
    this.logger.debug({ agentId: record.agentId, token: record.id, method: req.method, path: pathname, status }, 'model call forwarded');
  }

  /** The cost hook's verdict on a Messages call, with its body read: refused (and answered) or a ticket to settle after. */
  private async checkCost(costs: GatewayCostHooks, caller: Caller, req: http.IncomingMessage, body: MessagesBody, res: http.ServerResponse): Promise<{ ticket: CallTicket } | 'refused'> {
    const decision = await costs.before(caller, req.headers, body);
    if (decision.ok) return { ticket: decision.ticket };
    // 402 with x-should-retry: false: the SDK and the Claude Code CLI give up at once, and the worker ends the task budget_exceeded.
    sendApiError(res, decision.status, decision.type, decision.message, { connection: 'close', 'x-should-retry': 'false' });
    return 'refused';
  }
}
