/**
 * Signed event webhooks: a sender signs `<timestamp>.<raw body>` with HMAC-SHA256 and a
 * shared secret, and sends the signature and the timestamp in headers. The receiver checks
 * both before it reads the event: a forged body fails the signature, a replayed one the
 * timestamp (and a replay inside the window is a duplicate messageId).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-journeys-signature';
export const TIMESTAMP_HEADER = 'x-journeys-timestamp';
/** An event is at most 64 KiB of JSON (the event check's own limit): a larger body is refused unread. */
export const WEBHOOK_BODY_LIMIT = 64 * 1024;
export const WEBHOOK_TOLERANCE_MS = 5 * 60_000;

/** `sha256=<hex>` of `<timestamp>.<body>`. */
export function signWebhook(secret: string, timestamp: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

export type WebhookCheck = { ok: true } | { ok: false; reason: string };

export function verifyWebhook(secret: string, signature: unknown, timestamp: unknown, body: Buffer, now: Date, toleranceMs = WEBHOOK_TOLERANCE_MS): WebhookCheck {
  if (!secret) return { ok: false, reason: 'the webhook has no secret set' };
  if (typeof signature !== 'string' || typeof timestamp !== 'string') return { ok: false, reason: `${SIGNATURE_HEADER} and ${TIMESTAMP_HEADER} are required` };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: `${TIMESTAMP_HEADER} must be Unix seconds` };
  if (Math.abs(now.getTime() - Number(timestamp) * 1000) > toleranceMs) return { ok: false, reason: `${TIMESTAMP_HEADER} is more than 5 minutes from now` };
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'the signature does not match' };
  return { ok: true };
}
