import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { normalizeClientId } from '../protocol/client-id.js';
import type { WebhookEvent } from '../webhooks/webhook-rules.js';
import { checkWebhookEvents, checkWebhookUrl } from '../webhooks/webhook-rules.js';
import type { Keys } from './keys.js';
import { webhookClaimScript, webhookEnqueueScript, webhookSettleScript } from './lua/webhook-scripts.js';

/** Webhook secrets start with this, so a person can tell one from an API key. */
export const WEBHOOK_SECRET_PREFIX = 'dan-whsec-';
/** Entries kept in each webhook's delivery log. */
export const WEBHOOK_LOG_MAX = 100;

/** A webhook as stored: the secret signs each delivery and is shown once, when it is added. */
export interface Webhook {
  id: string;
  url: string;
  secret: string;
  events: WebhookEvent[];
  /** Only tasks of this client are sent; absent: every client's (a webhook added from the CLI). */
  client?: string;
  createdAt: string;
}

/** A webhook as listed: everything but its secret. */
export type WebhookView = Omit<Webhook, 'secret'>;

/** One delivery waiting for (or in) an attempt. */
export interface WebhookDelivery {
  id: string;
  webhook: string;
  event: WebhookEvent;
  /** The JSON text sent, exactly as signed. */
  body: string;
  /** Attempts made so far. */
  attempts: number;
}

/** One line of a webhook's delivery log. */
export interface WebhookLogEntry {
  delivery: string;
  event: string;
  task_id: string;
  status: 'delivered' | 'retrying' | 'failed';
  attempts: number;
  http_status: number | null;
  last_error: string | null;
  at: string;
}

function viewOf(hook: Webhook): WebhookView {
  const { secret: _secret, ...view } = hook;
  return view;
}

/**
 * The network's webhooks (`dan:webhooks`, which agents may not read: it holds the secrets) and their
 * deliveries: queued per task event by `enqueue`, taken for one attempt each by `claimDue`, and ended
 * or rescheduled by `settle`, which writes the webhook's bounded delivery log.
 */
export class WebhookStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  /** Adds a webhook; the returned record holds its secret, shown this once. */
  async add(input: { url: string; events?: readonly string[]; client?: string }): Promise<Webhook> {
    const hook: Webhook = {
      id: `wh-${randomBytes(6).toString('hex')}`,
      url: checkWebhookUrl(input.url),
      secret: `${WEBHOOK_SECRET_PREFIX}${randomBytes(24).toString('hex')}`,
      events: checkWebhookEvents(input.events),
      ...(input.client !== undefined ? { client: normalizeClientId(input.client) } : {}),
      createdAt: new Date().toISOString(),
    };
    await this.redis.hset(this.keys.webhooks(), hook.id, JSON.stringify(hook));
    return hook;
  }

  /** Every webhook with its secret: for the delivery loop only. */
  async all(): Promise<Webhook[]> {
    const stored = await this.redis.hgetall(this.keys.webhooks());
    return Object.values(stored).flatMap((text) => {
      try {
        const hook = JSON.parse(text) as Webhook;
        return typeof hook.id === 'string' && typeof hook.url === 'string' && typeof hook.secret === 'string' ? [hook] : [];
      } catch {
        return [];
      }
    });
  }

  /** Whether any webhook is registered (one HLEN): with none, task events need no delivery built. */
  async any(): Promise<boolean> {
    return (await this.redis.hlen(this.keys.webhooks())) > 0;
  }

  /** The webhooks (of `client` only, when given), without their secrets, oldest first. */
  async list(client?: string): Promise<WebhookView[]> {
    return (await this.all()).filter((h) => client === undefined || h.client === client).map(viewOf).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** One webhook without its secret (of `client` only, when given), or undefined. */
  async get(id: string, client?: string): Promise<WebhookView | undefined> {
    return (await this.list(client)).find((h) => h.id === id);
  }

  /** Removes a webhook and its log; its queued deliveries are dropped when they come due. False when there was none. */
  async remove(id: string): Promise<boolean> {
    const [[, removed]] = (await this.redis.multi().hdel(this.keys.webhooks(), id).del(this.keys.webhookLog(id)).exec()) as [[null, number]];
    return Number(removed) === 1;
  }

  /** The latest deliveries of a webhook, newest first. */
  async log(id: string, max = WEBHOOK_LOG_MAX): Promise<WebhookLogEntry[]> {
    const lines = await this.redis.lrange(this.keys.webhookLog(id), 0, Math.max(0, max - 1));
    return lines.flatMap((line) => {
      try { return [JSON.parse(line) as WebhookLogEntry]; } catch { return []; }
    });
  }

  /**
   * Queues one delivery of each event's `body` per webhook that wants `event` for `client`'s task, a
   * batch of events in one script call; idempotent per event id. How many deliveries were queued.
   */
  async enqueue(events: readonly { eventId: string; event: WebhookEvent; client: string; body: string }[]): Promise<number> {
    if (events.length === 0) return 0;
    const k = this.keys;
    return Number(await webhookEnqueueScript.run(this.redis, {
      keys: { webhooks: k.webhooks(), deliveries: k.webhookDeliveries(), due: k.webhookDue() },
      args: {},
      rest: events.flatMap((e) => [e.eventId, e.event, e.client, e.body]),
    }));
  }

  /**
   * Takes up to `max` due deliveries for one attempt, each held for `leaseMs`: none of the `busy`
   * webhooks' (attempts in flight), at most `perHook` of any other's.
   */
  async claimDue(max: number, leaseMs: number, busy: readonly string[] = [], perHook = 2): Promise<WebhookDelivery[]> {
    if (max <= 0) return [];
    const flat = (await webhookClaimScript.run(this.redis, {
      keys: { due: this.keys.webhookDue(), deliveries: this.keys.webhookDeliveries() },
      args: { max, leaseMs, busy: `,${busy.join(',')},`, perHook },
    })) as string[];
    const out: WebhookDelivery[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      try {
        const stored = JSON.parse(flat[i + 1]!) as Omit<WebhookDelivery, 'id'>;
        out.push({ id: flat[i]!, webhook: stored.webhook, event: stored.event, body: stored.body, attempts: Number(stored.attempts) || 0 });
      } catch {
        // Unreadable: nothing could be sent; its lease lapses and the next claim sees it again, so drop it now.
        await this.settle({ id: flat[i]!, webhook: 'unknown' } as WebhookDelivery, 'failed', 0, { delivery: flat[i]!, event: '', task_id: '', status: 'failed', attempts: 0, http_status: null, last_error: 'unreadable delivery', at: new Date().toISOString() });
      }
    }
    return out;
  }

  /** Ends a delivery (`delivered`, `failed`) or schedules its next attempt (`retrying`), logging `entry`. */
  async settle(delivery: WebhookDelivery, outcome: WebhookLogEntry['status'], retryInMs: number, entry: WebhookLogEntry): Promise<void> {
    await webhookSettleScript.run(this.redis, {
      keys: { deliveries: this.keys.webhookDeliveries(), due: this.keys.webhookDue(), log: this.keys.webhookLog(delivery.webhook) },
      args: { deliveryId: delivery.id, outcome, attempts: entry.attempts, retryInMs, entry: JSON.stringify(entry), logMax: WEBHOOK_LOG_MAX },
    });
  }
}
