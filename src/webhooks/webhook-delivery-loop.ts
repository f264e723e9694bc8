import type { Redis } from 'ioredis';
import { sleep } from '../../lib/clock.js';
import { oneLine, toFailure } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { DEFAULT_CLIENT_ID } from '../../lib/protocol/client-id.js';
import { EventConsumer } from '../../lib/redis/event-consumer.js';
import type { Keys } from '../../lib/redis/keys.js';
import type { Webhook, WebhookDelivery, WebhookLogEntry } from '../../lib/redis/webhooks.js';
import { WebhookStore } from '../../lib/redis/webhooks.js';
import type { AgentLoop } from '../../lib/runtime/agent-lifecycle.js';
import { scrubValue } from '../../lib/scrub.js';
import type { WebhookEvent } from '../../lib/webhooks/webhook-rules.js';
import { webhookEventOf, webhookRetryDelayMs } from '../../lib/webhooks/webhook-rules.js';
import { signWebhook, WEBHOOK_HEADERS } from '../../lib/webhooks/webhook-signature.js';

/** How long the events loop waits after a read that did not fill a batch, so the next one takes more. */
const EVENT_GATHER_MS = 50;

/** The consumer group the delivery loop reads `dan:events` with. */
export const WEBHOOK_EVENTS_GROUP = 'webhooks';

export interface WebhookDeliveryOptions {
  redis: Redis;
  /** A dedicated connection for the blocking read of the events stream; disconnected when the loop stops. */
  events: Redis;
  keys: Keys;
  /** This reader's name in the consumer group: the main orchestrator's agent id. */
  consumer: string;
  logger: Logger;
  /** One attempt's time limit (DAN_WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** Attempts before a delivery is given up (DAN_WEBHOOK_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Attempts in flight at once, over all webhooks: 16. */
  concurrency?: number;
  /** Attempts in flight at once to one webhook: 2, so a slow receiver holds two slots, never all. */
  perWebhook?: number;
  /** How often to look for due deliveries when nothing woke the loop: 250 ms. */
  pollMs?: number;
}

/** The JSON body a webhook receives for one event: what a person needs, never a secret (scrubbed). */
export function webhookBody(event: WebhookEvent, fields: Record<string, string>): string {
  const description = fields['description'];
  return JSON.stringify(scrubValue({
    event,
    task_id: fields['task_id'] ?? null,
    status: fields['status'] ?? null,
    domain: fields['domain'] ?? null,
    client: fields['client'] ?? DEFAULT_CLIENT_ID,
    parent_id: fields['parent'] ?? null,
    description: description === undefined ? null : description.slice(0, 200),
    error: fields['error'] || null,
    approval_until: fields['until'] ?? null,
    at: fields['at'] ?? null,
  }));
}

/**
 * Webhook deliveries, off every task's path: one loop turns `dan:events` entries (read through a
 * consumer group, so nothing is missed across restarts) into queued deliveries; another takes due
 * deliveries and POSTs each, signed, concurrently and under a time limit, retrying with exponential
 * backoff up to `maxAttempts`. A dead or hanging receiver costs its own deliveries' slots, never a task.
 */
export function webhookDeliveryLoops(o: WebhookDeliveryOptions): AgentLoop[] {
  const store = new WebhookStore(o.redis, o.keys);
  let wake: (() => void) | undefined;
  const consumer = new EventConsumer({
    redis: o.redis, blocking: o.events, stream: o.keys.events(), group: WEBHOOK_EVENTS_GROUP, consumer: o.consumer, logger: o.logger, adoptEveryMs: 30_000,
  });
  const onEvents = async (entries: { id: string; fields: Record<string, string> }[]): Promise<void> => {
    // With no webhook registered, a batch costs one HLEN, and no body is built (scrubbing each was a
    // twentieth of a busy main orchestrator's time).
    if (entries.length === 0 || !(await store.any())) return;
    const events = entries.flatMap(({ id, fields }) => {
      const event = webhookEventOf(fields);
      if (event === undefined || !fields['task_id']) return [];
      return [{ eventId: id, event, client: (fields['client'] ?? DEFAULT_CLIENT_ID).toLowerCase(), body: webhookBody(event, fields) }];
    });
    if ((await store.enqueue(events)) > 0) wake?.();
  };
  const inFlight = new Map<string, string>();
  const attempt = async (delivery: WebhookDelivery, hooks: Map<string, Webhook>): Promise<void> => {
    const hook = hooks.get(delivery.webhook);
    const attempts = delivery.attempts + 1;
    const taskId = readTaskId(delivery.body);
    const entry = (status: WebhookLogEntry['status'], httpStatus: number | null, error: string | null): WebhookLogEntry =>
      ({ delivery: delivery.id, event: delivery.event, task_id: taskId, status, attempts, http_status: httpStatus, last_error: error, at: new Date().toISOString() });
    if (hook === undefined) {
      await store.settle(delivery, 'failed', 0, entry('failed', null, 'the webhook was removed'));
      return;
    }
    const { status, error } = await post(hook, delivery, o.timeoutMs);
    if (error === null) {
      await store.settle(delivery, 'delivered', 0, entry('delivered', status, null));
      return;
    }
    const last = attempts >= o.maxAttempts;
    o.logger.warn({ webhook: hook.id, delivery: delivery.id, attempts, err: error }, last ? 'webhook delivery failed; giving up' : 'webhook delivery failed; will retry');
    await store.settle(delivery, last ? 'failed' : 'retrying', webhookRetryDelayMs(attempts), entry(last ? 'failed' : 'retrying', status, error));
  };
  const pump = async (signal: AbortSignal): Promise<void> => {
    const concurrency = o.concurrency ?? 16;
    while (!signal.aborted) {
      try {
        const free = concurrency - inFlight.size;
        const due = free > 0 ? await store.claimDue(free, o.timeoutMs + 30_000, [...new Set(inFlight.values())], o.perWebhook ?? 2) : [];
        if (due.length > 0) {
          const hooks = new Map((await store.all()).map((h) => [h.id, h]));
          for (const delivery of due) {
            inFlight.set(delivery.id, delivery.webhook);
            void attempt(delivery, hooks)
              .catch((error: unknown) => o.logger.warn({ delivery: delivery.id, err: toFailure(error).message }, 'could not record a webhook delivery; it is tried again when its lease ends'))
              .finally(() => { inFlight.delete(delivery.id); wake?.(); });
          }
          continue;
        }
      } catch (error) {
        if (signal.aborted) break;
        o.logger.warn({ err: toFailure(error).message }, 'claiming webhook deliveries failed; retrying');
      }
      // Woken early by a queued delivery or a finished attempt; the nap's own signal ends its timer then.
      const nap = new AbortController();
      wake = () => nap.abort();
      await sleep(o.pollMs ?? 250, AbortSignal.any([signal, nap.signal]));
      wake = undefined;
    }
  };
  return [
    // Read in batches, a pause of EVENT_GATHER_MS after a short one: a delivery may start that much later,
    // and a busy network's task ends then cost the loop one script call per batch rather than per task.
    { name: 'webhook events', run: (signal) => consumer.runBatches(onEvents, signal, EVENT_GATHER_MS) },
    { name: 'webhook deliveries', run: pump },
  ];
}

function readTaskId(body: string): string {
  try {
    const parsed = JSON.parse(body) as { task_id?: unknown };
    return typeof parsed.task_id === 'string' ? parsed.task_id : '';
  } catch {
    return '';
  }
}

/** One signed POST of a delivery; `error` is null when the receiver answered 2xx. */
async function post(hook: Webhook, delivery: WebhookDelivery, timeoutMs: number): Promise<{ status: number | null; error: string | null }> {
  const timestamp = Math.floor(Date.now() / 1000);
  try {
    const response = await fetch(hook.url, {
      method: 'POST',
      body: delivery.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'dan-webhooks/1',
        [WEBHOOK_HEADERS.timestamp]: String(timestamp),
        [WEBHOOK_HEADERS.signature]: signWebhook(hook.secret, timestamp, delivery.body),
        [WEBHOOK_HEADERS.event]: delivery.event,
        [WEBHOOK_HEADERS.delivery]: delivery.id,
      },
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return { status: response.status, error: null };
    return { status: response.status, error: `HTTP ${response.status} from the receiver` };
  } catch (error) {
    const e = error as Error;
    const message = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms (DAN_WEBHOOK_TIMEOUT_MS)` : oneLine(e.message);
    return { status: null, error: message.slice(0, 300) };
  }
}
