/**
 * Opens, clicks and unsubscribes: the links a sent email carries and what happens when a
 * person follows one. Links are signed per delivery (see signing.ts); what they record
 * goes on the delivery and, as an event, on the profile.
 */
import { randomUUID } from 'node:crypto';
import { recordProfileEvent } from '../../events/ingest.js';
import { setConsent } from '../../profiles/consent.js';
import { countDelivery } from '../../reports/delivery-counters.js';
import type { Store } from '../../store/port.js';
import { COLLECTIONS } from '../../store/schema.js';
import type { Delivery } from '../delivery.js';
import { signLink, type LinkAction } from '../signing.js';

export interface LinkBase {
  /** Public URL of Node-RED's HTTP root (httpNodeRoot), no trailing slash. */
  baseUrl: string;
  /** journey-store config node id. */
  storeId: string;
  key: Buffer;
}

export const TRACKING_PATHS: Record<LinkAction, string> = {
  open: '/journeys/email/open/',
  click: '/journeys/email/click/',
  unsubscribe: '/journeys/email/unsubscribe/',
  preferences: '/journeys/email/unsubscribe/',
};

export function trackingUrl(base: LinkBase, deliveryId: string, action: LinkAction, url?: string): string {
  const token = signLink(base.key, { d: deliveryId, a: action, s: base.storeId, ...(url ? { u: url } : {}) });
  return `${base.baseUrl}${TRACKING_PATHS[action]}${token}`;
}

const HREF = /(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?:\/\/[^"']+)\2/gi;

/** Routes every http(s) link through the click redirect and adds the open pixel. */
export function addTracking(html: string, base: LinkBase, deliveryId: string, options: { opens: boolean; clicks: boolean; skip?: string[] }): string {
  let out = html;
  if (options.clicks) {
    out = out.replace(HREF, (whole, before: string, quote: string, href: string) => {
      const url = decodeEntities(href);
      if (options.skip?.includes(url)) return whole;
      return `${before}${quote}${trackingUrl(base, deliveryId, 'click', url)}${quote}`;
    });
  }
  if (options.opens) {
    const pixel = `<img src="${trackingUrl(base, deliveryId, 'open')}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">`;
    out = /<\/body>/i.test(out) ? out.replace(/<\/body>/i, `${pixel}</body>`) : `${out}${pixel}`;
  }
  return out;
}

/** Autoescaped templates write & as &amp; inside href: the redirect must go to the real URL. */
function decodeEntities(href: string): string {
  return href.replace(/&amp;/g, '&').replace(/&#x2F;/gi, '/').replace(/&#39;/g, "'").replace(/&quot;/g, '"');
}

/** A 1×1 transparent GIF. */
export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

function deliveries(store: Store) {
  return store.collection<Delivery>(COLLECTIONS.deliveries);
}

const attribution = (d: Delivery) => ({ deliveryId: d._id, journey: d.journey, node: d.node, variant: d.variant, channel: d.channel });

export async function recordOpen(store: Store, deliveryId: string, now: Date): Promise<boolean> {
  const d = await deliveries(store).findOneAndUpdate(
    { _id: deliveryId, status: 'sent' },
    { $inc: { opens: 1 }, $min: { firstOpenAt: now } },
    { returnDocument: 'after' },
  );
  if (!d) return false;
  // The first open is the event; repeated fetches of the pixel only count on the delivery.
  if (d.opens === 1) {
    await countDelivery(store, d, { opened: 1 });
    await recordProfileEvent(store, d.profileId, 'email_opened', attribution(d), `email_opened:${d._id}`, now);
  }
  return true;
}

/** Returns where the click goes (null when the delivery is unknown). */
export async function recordClick(store: Store, deliveryId: string, url: string, now: Date): Promise<boolean> {
  const d = await deliveries(store).findOneAndUpdate(
    { _id: deliveryId, status: 'sent' },
    { $inc: { clicks: 1 }, $set: { lastClickAt: now } },
    { returnDocument: 'after' },
  );
  if (!d) return false;
  if (d.clicks === 1) await countDelivery(store, d, { clicked: 1 });
  await recordProfileEvent(store, d.profileId, 'email_clicked', { ...attribution(d), url }, `email_clicked:${randomUUID()}`, now);
  return true;
}

/** One-click unsubscribe: the delivery's profile denies email consent. Idempotent. */
export async function unsubscribe(store: Store, deliveryId: string, now: Date): Promise<boolean> {
  const d = await deliveries(store).findOne({ _id: deliveryId });
  if (!d) return false;
  await setConsent(store, d.profileId, 'email', 'denied', now, 'unsubscribed');
  await recordProfileEvent(store, d.profileId, 'email_unsubscribed', attribution(d), `email_unsubscribed:${d._id}`, now);
  return true;
}
