/**
 * send-email: renders the subject, HTML and text templates for the msg's profile and sends
 * them through an SMTP account, or records them in the outbox when no account is chosen.
 * Consent, the frequency cap, quiet hours and exactly-once delivery are shared with the
 * other senders (nodes/shared/sender.ts). Adds an open pixel, signed click redirects and
 * one-click unsubscribe (RFC 8058), served on Node-RED's HTTP endpoints.
 * Outputs: 1 sent; 2 not sent, with msg.delivery.reason.
 */
import type { Request, Response } from 'express';
import {
  channelTemplates,
  emailChannel,
  peekLink,
  PIXEL_GIF,
  recordClick,
  recordOpen,
  signingKey,
  TRACKING_PATHS,
  unsubscribe,
  verifyLink,
  type LinkAction,
  type LinkClaim,
  type Store,
} from '../../lib/index.js';
import { registerPreview } from '../shared/preview.js';
import { registerNode, type Node, type NodeAPI } from '../shared/red.js';
import { defineSender, type SenderDef } from '../shared/sender.js';
import { findStoreConfig } from '../shared/store-client.js';

interface SendEmailDef extends SenderDef {
  subject?: string;
  html?: string;
  text?: string;
  trackOpens?: boolean;
  trackClicks?: boolean;
  unsubscribe?: boolean;
}

export = function (RED: NodeAPI): void {
  function SendEmailNode(this: Node, def: SendEmailDef): void {
    RED.nodes.createNode(this, def);
    const tracking = { opens: def.trackOpens !== false, clicks: def.trackClicks !== false, unsubscribe: def.unsubscribe !== false };
    defineSender(RED, this, def, {
      channel: 'email',
      templates: () => channelTemplates('email', { subject: def.subject ?? '', html: def.html ?? '', text: def.text ?? '' }),
      channelSpec: (user) =>
        emailChannel(tracking, async () => ({
          baseUrl: user.config.publicUrl(),
          storeId: user.config.id,
          key: await signingKey(await user.store()),
        })),
    });
  }

  registerNode(RED, 'send-email', SendEmailNode);
  registerPreview(RED);
  registerTracking(RED);
};

const registered = new WeakSet<object>();

/** The open pixel, click redirects and unsubscribe page, on Node-RED's HTTP root. */
function registerTracking(RED: NodeAPI): void {
  if (registered.has(RED.httpNode)) return;
  registered.add(RED.httpNode);

  /** The store and the claim, when the token is genuine. Nothing tells a caller why a token failed. */
  async function verified(token: string, actions: LinkAction[]): Promise<{ store: Store; claim: LinkClaim } | null> {
    const claim = peekLink(token);
    if (!claim || !actions.includes(claim.a)) return null;
    const config = findStoreConfig(RED, claim.s);
    if (!config) return null;
    const store = await config.getStore();
    const genuine = verifyLink(await signingKey(store), token);
    return genuine ? { store, claim: genuine } : null;
  }
  const page = (res: Response, status: number, key: 'link-invalid' | 'unavailable' | 'unsubscribe-confirm' | 'unsubscribed') => {
    // The confirmation posts back to its own URL: the RFC 8058 POST and the button do the same thing.
    const form = key === 'unsubscribe-confirm' ? `<form method="post"><button type="submit">${escapeHtml(RED._('send-email.pages.unsubscribe-button'))}</button></form>` : '';
    res
      .status(status)
      .set({ 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'X-Robots-Tag': 'noindex' })
      .send(
        `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(RED._('send-email.pages.title'))}</title></head>` +
          `<body style="font-family:sans-serif;max-width:32em;margin:4em auto"><p>${escapeHtml(RED._(`send-email.pages.${key}`))}</p>${form}</body></html>`,
      );
  };
  const param = (req: Request) => String(req.params.token ?? '');

  RED.httpNode.get(`${TRACKING_PATHS.open}:token`, (req: Request, res: Response) => {
    // The pixel answers alike for every token: it reveals nothing about deliveries.
    res.set({ 'Content-Type': 'image/gif', 'Cache-Control': 'no-store, private', 'Content-Length': String(PIXEL_GIF.length) }).send(PIXEL_GIF);
    void verified(param(req), ['open'])
      .then((found) => (found ? recordOpen(found.store, found.claim.d, new Date()) : false))
      .catch((err: Error) => RED.log.warn(`journeys: an email open was not recorded: ${err.message}`));
  });

  RED.httpNode.get(`${TRACKING_PATHS.click}:token`, (req: Request, res: Response) => {
    void verified(param(req), ['click'])
      .then(async (found) => {
        const url = found?.claim.u;
        if (!found || !url || !/^https?:\/\//i.test(url)) return void page(res, 404, 'link-invalid');
        await recordClick(found.store, found.claim.d, url, new Date()).catch((err: Error) => RED.log.warn(`journeys: an email click was not recorded: ${err.message}`));
        res.set('Cache-Control', 'no-store').redirect(302, url);
      })
      .catch(() => page(res, 503, 'unavailable'));
  });

  // GET shows a confirmation (mail scanners follow links); the button, or a mail client's
  // RFC 8058 one-click POST, unsubscribes.
  RED.httpNode.get(`${TRACKING_PATHS.unsubscribe}:token`, (req: Request, res: Response) => {
    void verified(param(req), ['unsubscribe'])
      .then((found) => (found ? page(res, 200, 'unsubscribe-confirm') : page(res, 404, 'link-invalid')))
      .catch(() => page(res, 503, 'unavailable'));
  });
  RED.httpNode.post(`${TRACKING_PATHS.unsubscribe}:token`, (req: Request, res: Response) => {
    void verified(param(req), ['unsubscribe'])
      .then(async (found) => {
        if (!found) return void page(res, 404, 'link-invalid');
        await unsubscribe(found.store, found.claim.d, new Date());
        page(res, 200, 'unsubscribed');
      })
      .catch(() => page(res, 503, 'unavailable'));
  });
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
