/**
 * POST /journeys/sms/inbound/:account on Node-RED's HTTP root: the URL to give Twilio as
 * the phone number's "A message comes in" webhook. The account's auth token checks
 * X-Twilio-Signature; replies are applied to the account's journey store.
 */
import type { Request, Response } from 'express';
import { readRawBody } from '../shared/request-body.js';
import { handleInbound, verifyInbound } from '../../lib/channels/sms/index.js';
import type { NodeAPI } from '../shared/red.js';
import { findStoreConfig } from '../shared/store-client.js';
import type { TwilioAccountNode } from './account-node.js';

export const INBOUND_PATH = '/journeys/sms/inbound/';

/** Twilio's inbound fields are a few hundred bytes; a body of up to 1600 characters fits well within this. */
const MAX_FORM_BYTES = 16 * 1024;
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

const registered = new WeakSet<object>();

export function registerInbound(RED: NodeAPI): void {
  if (registered.has(RED.httpNode)) return;
  registered.add(RED.httpNode);

  RED.httpNode.post(`${INBOUND_PATH}:account`, (req: Request, res: Response) => {
    void answer(RED, req, res).catch((err: Error) => {
      RED.log.warn(`journeys: an inbound SMS was not handled: ${err.message}`);
      // 5xx: Twilio retries, and the message SID keeps a retry from counting twice.
      if (!res.headersSent) res.status(500).type('text/plain').send('not handled');
    });
  });
}

async function answer(RED: NodeAPI, req: Request, res: Response): Promise<void> {
  const id = String(req.params.account ?? '');
  const account = RED.nodes.getNode(id) as TwilioAccountNode | null;
  if (!account || typeof account.authToken !== 'function') return void res.status(404).type('text/plain').send('unknown account');
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.get('content-type') ?? '')) return void res.status(415).type('text/plain').send('form data expected');
  const form = await readForm(req);
  if (!form) return void res.status(413).type('text/plain').send('too large');

  const config = findStoreConfig(RED, account.inboundStore());
  const signature = req.get('x-twilio-signature');
  const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
  // Twilio signs the URL it was given: the store's public URL when set (behind a proxy),
  // or the URL as this request arrived.
  const urls = [`${req.protocol}://${req.get('host') ?? ''}${req.originalUrl}`];
  if (config) urls.unshift(`${config.publicUrl()}${INBOUND_PATH}${encodeURIComponent(id)}${query}`);
  if (!urls.some((url) => verifyInbound(account.authToken(), signature, url, form))) {
    return void res.status(403).type('text/plain').send('invalid signature');
  }
  if (!config) {
    account.warn(RED._('twilio-account.errors.no-inbound-store'));
  } else {
    const result = await handleInbound(await config.getStore(), form, new Date());
    if (result.profileId && result.kind !== 'reply') account.log(RED._(`twilio-account.log.${result.kind}`, { profile: result.profileId }));
  }
  // The same empty answer whether or not the number belongs to anyone.
  res.status(200).type('text/xml').send(EMPTY_TWIML);
}

/** The form fields, parsed here so the route needs no body parser of its own; null when too large. */
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
