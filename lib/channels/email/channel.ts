/** The email channel: addresses from the profile, and tracked links added after rendering. */
import type { ChannelSpec } from '../send.js';
import { emailAddress } from './address.js';
import type { EmailContent } from './smtp.js';
import { addTracking, trackingUrl, type LinkBase } from './tracking.js';

export type EmailField = 'subject' | 'html' | 'text';

export interface EmailTracking {
  opens: boolean;
  clicks: boolean;
  /** Adds List-Unsubscribe headers and `unsubscribeUrl` to the templates' scope. */
  unsubscribe: boolean;
}

/** `links` is null when there is nowhere to point links (no public URL): nothing is tracked then. */
export function emailChannel(tracking: EmailTracking, links: () => Promise<LinkBase | null>): ChannelSpec<EmailField> {
  return {
    channel: 'email',
    addresses: emailAddress,
    async scopeExtras(deliveryId) {
      const base = tracking.unsubscribe ? await links() : null;
      return base ? { unsubscribeUrl: trackingUrl(base, deliveryId, 'unsubscribe') } : {};
    },
    async finish(rendered, deliveryId) {
      const base = await links();
      const content: EmailContent = { ...rendered };
      if (!base) return content;
      const unsubscribeUrl = tracking.unsubscribe ? trackingUrl(base, deliveryId, 'unsubscribe') : undefined;
      if (rendered.html) content.html = addTracking(rendered.html, base, deliveryId, { ...tracking, skip: unsubscribeUrl ? [unsubscribeUrl] : [] });
      if (unsubscribeUrl) content.listUnsubscribe = unsubscribeUrl;
      return content;
    },
  };
}
