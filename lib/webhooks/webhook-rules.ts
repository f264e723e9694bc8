import { InvalidInputError } from '../errors.js';

/** The task state changes a webhook may ask for; all of them when it names none. */
export const WEBHOOK_EVENTS = ['task.completed', 'task.failed', 'task.awaiting_approval'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

const MAX_URL_LENGTH = 2_000;

/**
 * `text` as a webhook URL, or an InvalidInputError saying why not: only http(s), no user or password in
 * it (the URL is listed and logged; the signature is how a receiver knows the sender), at most 2,000 characters.
 */
export function checkWebhookUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new InvalidInputError(`webhook URL '${text.slice(0, 200)}' is not a URL: give one such as https://example.com/hooks/dan`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(`webhook URL must be http:// or https://, got '${url.protocol}': give an http(s) URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidInputError('webhook URL must not hold a user or password: the receiver checks the X-Dan-Signature header instead');
  }
  if (url.href.length > MAX_URL_LENGTH) throw new InvalidInputError(`webhook URL is over ${MAX_URL_LENGTH} characters: give a shorter one`);
  return url.href;
}

/** The events a webhook asks for, checked; all of them for an empty list. */
export function checkWebhookEvents(names: readonly string[] | undefined): WebhookEvent[] {
  if (names === undefined || names.length === 0) return [...WEBHOOK_EVENTS];
  const unknown = names.filter((n) => !(WEBHOOK_EVENTS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new InvalidInputError(`unknown webhook event '${unknown[0]}': use ${WEBHOOK_EVENTS.join(', ')}`);
  return [...new Set(names)] as WebhookEvent[];
}

/** Backoff before attempt `attempt + 1` of a delivery: 1 s, 2 s, 4 s ... up to 5 minutes, with up to a quarter of jitter. */
export function webhookRetryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(1_000 * 2 ** Math.max(0, attempt - 1), 300_000);
  return Math.round(base * (0.75 + random() * 0.25));
}

/** The webhook event of a `dan:events` entry, or undefined for events webhooks are not told of. */
export function webhookEventOf(fields: Record<string, string>): WebhookEvent | undefined {
  if (fields['type'] === 'task.awaiting_approval') return 'task.awaiting_approval';
  if (fields['type'] !== 'task.finished') return undefined;
  return fields['status'] === 'completed' ? 'task.completed' : fields['status'] === 'failed' ? 'task.failed' : undefined;
}
