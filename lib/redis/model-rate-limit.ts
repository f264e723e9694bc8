import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sleep } from '../clock.js';
import type { ModelLimits } from '../config/model-limits.js';
import type { Keys } from './keys.js';
import { LuaFileScript } from './lua/lua-file-script.js';

const admitScript = new LuaFileScript({ file: 'model-rate-2.lua', keys: ['window', 'pauses'], args: ['model', 'id', 'rpm', 'inputTpm', 'outputTpm', 'input', 'output', 'windowMs'] });
const settleScript = new LuaFileScript({ file: 'model-rate-settle-1.lua', keys: ['window'], args: ['entry', 'settled', 'answeredAfterMs', 'windowMs'] });
const pauseScript = new LuaFileScript({ file: 'model-pause-1.lua', keys: ['pauses'], args: ['model', 'forMs'] });

export interface ModelRateLimitOptions {
  /** The limits of every model without its own. */
  defaults: ModelLimits;
  /** Per model id: the limits that differ from the defaults. */
  perModel?: Readonly<Record<string, Partial<ModelLimits>>>;
  /** The window limits are counted in: 60 000 (per minute) but for tests and the bench's quick form. */
  windowMs: number;
}

/** A call the limiter let through: settle it with the tokens it really used. */
export interface ModelTicket {
  model: string;
  /** The window entry, absent when the model has no limits (nothing is kept). */
  entry?: string;
  /** When it was admitted (performance.now()), to tell how long it took to leave. */
  admittedAt?: number;
}

export type ModelRefusal = { waitMs: number; reason: 'paused' | 'requests' | 'input_tokens' | 'output_tokens' };

/** A model whose calls a 429 paused, and for how much longer. */
export interface ModelPause {
  model: string;
  /** Milliseconds left, on Redis's clock. */
  remainingMs: number;
}

/** Model ids are parts of key names: what the API's ids look like, and nothing longer. */
export const MODEL_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/**
 * The rate limit every agent of a network shares, per model: requests and input and output tokens in
 * a sliding window, kept in Redis (one admission is one script, on Redis's clock), so 50 workers
 * across domains, behind any number of gateways, stay inside the account's limits together; and the
 * pause a 429 with `retry-after` puts on a model, which every caller honours before its next call.
 */
export class ModelRateLimit {
  /**
   * How long an admitted call holds its place: the window and a guard (a fiftieth of the window, at
   * least 200 ms and at most 1 s) for the clocks of the API and of Redis, which time the window.
   */
  readonly holdMs: number;

  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly options: ModelRateLimitOptions) {
    this.holdMs = options.windowMs + Math.min(1_000, Math.max(200, Math.ceil(options.windowMs / 50)));
  }

  /** The limits of `model`: its own where set, else the defaults. */
  limitsOf(model: string): ModelLimits {
    return { ...this.options.defaults, ...(this.options.perModel?.[model] ?? {}) };
  }

  /** One try: admitted now, or how long until a place frees (or the pause ends). */
  async tryAdmit(model: string, tokens: { input: number; output: number }): Promise<ModelTicket | ModelRefusal> {
    checkModel(model);
    const limits = this.limitsOf(model);
    const id = randomBytes(8).toString('hex');
    const input = wholeTokens(tokens.input);
    const output = wholeTokens(tokens.output);
    const [admitted, waitMs, reason] = (await admitScript.run(this.redis, {
      keys: { window: this.keys.modelRate(model), pauses: this.keys.modelPauses() },
      args: { model, id, rpm: limits.rpm, inputTpm: limits.inputTpm, outputTpm: limits.outputTpm, input, output, windowMs: this.holdMs },
    })) as [number, number, string];
    if (Number(admitted) === 1) return reason === 'unlimited' ? { model } : { model, entry: `${id}|${input}|${output}`, admittedAt: performance.now() };
    return { waitMs: Number(waitMs), reason: reason as ModelRefusal['reason'] };
  }

  /**
   * Waits for a place of `model` as long as `maxWaitMs`, trying again when the script says one frees
   * (never more often than every 20 ms). Refused past the wait (or on `signal`): how long the caller
   * should wait, for its `retry-after`.
   */
  async admit(model: string, tokens: { input: number; output: number }, maxWaitMs: number, signal?: AbortSignal): Promise<ModelTicket | ModelRefusal> {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      const outcome = await this.tryAdmit(model, tokens);
      if ('model' in outcome) return outcome;
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return outcome;
      // A little spread, so the waiters of one freed place do not all come back in the same millisecond.
      await sleep(Math.min(left, Math.max(20, outcome.waitMs) + Math.floor(Math.random() * 20)), signal);
    }
  }

  /**
   * Puts the tokens a call used in place of its estimate, and its time at when its answer began,
   * `answeredAfterMs` after its admission: the API counted the call by then, however long a busy
   * machine took to get it there (a non-streamed answer begins only when it is whole, so such a call
   * holds its place that much longer). Best effort: its place is held from admission anyway.
   */
  async settle(ticket: ModelTicket, used: { input: number; output: number }, answeredAfterMs = 0): Promise<void> {
    if (ticket.entry === undefined) return;
    const id = ticket.entry.split('|')[0] ?? '';
    await settleScript.run(this.redis, {
      keys: { window: this.keys.modelRate(ticket.model) },
      args: { entry: ticket.entry, settled: `${id}|${wholeTokens(used.input)}|${wholeTokens(used.output)}`, answeredAfterMs: Math.max(0, Math.round(answeredAfterMs)), windowMs: this.holdMs },
    });
  }

  /** Pauses every caller's calls to `model` for `forMs` (a later pause already set wins). */
  async pause(model: string, forMs: number): Promise<void> {
    checkModel(model);
    await pauseScript.run(this.redis, { keys: { pauses: this.keys.modelPauses() }, args: { model, forMs: Math.max(0, Math.ceil(forMs)) } });
  }

  /** The models paused now. */
  async pauses(): Promise<ModelPause[]> {
    return readModelPauses(this.redis, this.keys);
  }
}

/**
 * The models a 429 paused and how long each has left (for the supervisor, `dan agents` and
 * /metrics). One HGETALL, which the read-only users may run; the time left is on this machine's
 * clock, so off by its skew from Redis's (the pause itself is decided on Redis's).
 */
export async function readModelPauses(redis: Redis, keys: Keys, now = Date.now()): Promise<ModelPause[]> {
  const all = await redis.hgetall(keys.modelPauses());
  return Object.entries(all)
    .map(([model, until]) => ({ model, remainingMs: Number(until) - now }))
    .filter((p) => Number.isFinite(p.remainingMs) && p.remainingMs > 0 && MODEL_ID_PATTERN.test(p.model))
    .sort((a, b) => a.model.localeCompare(b.model));
}

function checkModel(model: string): void {
  if (!MODEL_ID_PATTERN.test(model)) throw new Error(`model '${model.slice(0, 40)}' is not a model id (1 to 128 letters, digits and ._:@-): name a model such as claude-sonnet-5-5`);
}

function wholeTokens(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.min(Math.ceil(n), 1e12) : 0;
}
