import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * How a webhook delivery is signed: HMAC-SHA256, keyed by the webhook's secret, over
 * `<timestamp>.<body>` (the timestamp header's value, a dot, the raw body), sent hex in
 * `X-Dan-Signature: sha256=<hex>`. Signing the timestamp with the body lets a receiver refuse a
 * replayed delivery by its age (`verifyWebhookSignature`'s tolerance).
 */
export const WEBHOOK_HEADERS = {
  signature: 'x-dan-signature',
  timestamp: 'x-dan-timestamp',
  event: 'x-dan-event',
  delivery: 'x-dan-delivery',
} as const;

/** The `X-Dan-Signature` value for `body` sent at `timestamp` (seconds since the epoch). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Whether a delivery is genuine: its signature matches and its timestamp is within `toleranceS` of
 * `nowS` (default 300 s). What a receiver in Node does with the raw body and the two headers.
 */
export function verifyWebhookSignature(
  secret: string, body: string, headers: { signature: string | undefined; timestamp: string | undefined },
  options: { nowS?: number; toleranceS?: number } = {},
): boolean {
  const timestamp = Number(headers.timestamp);
  if (!Number.isInteger(timestamp) || headers.signature === undefined) return false;
  const now = options.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceS ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(headers.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
