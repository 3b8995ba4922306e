/**
 * What Twilio's webhooks to a twilio-account share: POST <path><account id> on Node-RED's
 * HTTP root, a small form body, and X-Twilio-Signature checked with the account's auth token.
 * A request that passes reaches its handler with the form and the account's journey store.
 */
import type { Request, Response } from 'express';
import { verifyInbound } from '../../lib/channels/sms/index.js';
import type { NodeAPI } from '../shared/red.js';
import { readRawBody } from '../shared/request-body.js';
import { findStoreConfig, type JourneyStoreConfigNode } from '../shared/store-client.js';
import type { TwilioAccountNode } from './account-node.js';

/** Twilio's webhook fields are a few hundred bytes; an inbound body of up to 1600 characters fits well within this. */
const MAX_FORM_BYTES = 16 * 1024;

export interface TwilioWebhook {
  account: TwilioAccountNode;
  /** The account's "Replies to" store; null when none is chosen. */
  config: JourneyStoreConfigNode | null;
  form: Record<string, string>;
}

/** Where Twilio reaches `path` for this account from outside: the URL it is given, and the one it signs. */
export function webhookUrl(config: JourneyStoreConfigNode, path: string, accountId: string): string {
  return `${config.publicUrl()}${path}${encodeURIComponent(accountId)}`;
}

/** Paths already routed, per HTTP app: a redeploy registers the node type again, not the route. */
const registered = new WeakMap<object, Set<string>>();

/**
 * Routes POST `${path}:account`. 404 for an unknown account, 415 for a body that is not a
 * form, 413 for one too large, 403 for a bad signature; a handler that throws gets 500, so
 * Twilio retries. `what` names the request in the log.
 */
export function registerTwilioWebhook(RED: NodeAPI, path: string, what: string, handle: (hook: TwilioWebhook, res: Response) => Promise<void>): void {
  const paths = registered.get(RED.httpNode) ?? new Set<string>();
  registered.set(RED.httpNode, paths);
  if (paths.has(path)) return;
  paths.add(path);

  RED.httpNode.post(`${path}:account`, (req: Request, res: Response) => {
    void verified(RED, path, req, res)
      .then((hook) => (hook ? handle(hook, res) : undefined))
      .catch((err: Error) => {
        RED.log.warn(`journeys: ${what} was not handled: ${err.message}`);
        // 5xx: Twilio retries, and the message SID keeps a retry from counting twice.
        if (!res.headersSent) res.status(500).type('text/plain').send('not handled');
      });
  });
}

/** The request's account, store and form when it is Twilio's for this account; otherwise it has been answered and null comes back. */
async function verified(RED: NodeAPI, path: string, req: Request, res: Response): Promise<TwilioWebhook | null> {
  const id = String(req.params.account ?? '');
  const account = RED.nodes.getNode(id) as TwilioAccountNode | null;
  if (!account || typeof account.authToken !== 'function') return refuse(res, 404, 'unknown account');
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.get('content-type') ?? '')) return refuse(res, 415, 'form data expected');
  const form = await readForm(req);
  if (!form) return refuse(res, 413, 'too large');

  const config = findStoreConfig(RED, account.inboundStore());
  const signature = req.get('x-twilio-signature');
  const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
  // Twilio signs the URL it was given: the store's public URL when set (behind a proxy),
  // or the URL as this request arrived.
  const urls = [`${req.protocol}://${req.get('host') ?? ''}${req.originalUrl}`];
  if (config) urls.unshift(`${webhookUrl(config, path, id)}${query}`);
  if (!urls.some((url) => verifyInbound(account.authToken(), signature, url, form))) return refuse(res, 403, 'invalid signature');
  return { account, config, form };
}

function refuse(res: Response, status: number, text: string): null {
  res.status(status).type('text/plain').send(text);
  return null;
}

/** The form fields, parsed here so the routes need no body parser of their own; null when too large. */
async function readForm(req: Request): Promise<Record<string, string> | null> {
  const body = await readRawBody(req, MAX_FORM_BYTES);
  if (body === null) return null;
  const fields = Object.create(null) as Record<string, string>;
  if (!Buffer.isBuffer(body)) {
    // A body parser put on httpNode by the settings (httpNodeMiddleware) has read the stream already.
    if (body.parsed && typeof body.parsed === 'object') {
      for (const [k, v] of Object.entries(body.parsed as Record<string, unknown>)) fields[k] = Array.isArray(v) ? String(v[0]) : String(v);
    }
    return fields;
  }
  // The first value of a repeated field, as Twilio's signature for single-valued fields expects.
  for (const [key, value] of new URLSearchParams(body.toString('utf8'))) if (!(key in fields)) fields[key] = value;
  return fields;
}
