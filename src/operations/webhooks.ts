import type { WebhookLogEntry, WebhookStore, WebhookView } from '../../lib/redis/webhooks.js';

/** A webhook as `dan webhooks list --json` and `GET /webhooks` show it: never its secret. */
export function webhookJson(hook: WebhookView): { id: string; url: string; events: string[]; client: string | null; created_at: string } {
  return { id: hook.id, url: hook.url, events: [...hook.events], client: hook.client ?? null, created_at: hook.createdAt };
}

/** A webhook's delivery log as `dan webhooks log --json` and `GET /webhooks/{id}/log` show it. */
export function webhookLogJson(entries: WebhookLogEntry[]): WebhookLogEntry[] {
  return entries;
}

/**
 * Adds a webhook, the one way `dan webhooks add` and `POST /webhooks` do: the URL and events are
 * checked (http(s) only), and the answer holds the signing secret, shown this once.
 */
export async function addWebhook(store: WebhookStore, input: { url: string; events?: readonly string[]; client?: string }): Promise<ReturnType<typeof webhookJson> & { secret: string }> {
  const hook = await store.add(input);
  return { ...webhookJson(hook), secret: hook.secret };
}
