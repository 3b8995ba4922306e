/**
 * POST /journeys/sms/inbound/:account on Node-RED's HTTP root: the URL to give Twilio as
 * the phone number's "A message comes in" webhook. The account's auth token checks
 * X-Twilio-Signature; replies are applied to the account's journey store.
 */
import { handleInbound } from '../../lib/channels/sms/index.js';
import type { NodeAPI } from '../shared/red.js';
import { registerTwilioWebhook } from './webhook.js';

export const INBOUND_PATH = '/journeys/sms/inbound/';

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

export function registerInbound(RED: NodeAPI): void {
  registerTwilioWebhook(RED, INBOUND_PATH, 'an inbound SMS', async ({ account, config, form }, res) => {
    if (!config) {
      account.warn(RED._('twilio-account.errors.no-inbound-store'));
    } else {
      const result = await handleInbound(await config.getStore(), form, new Date());
      if (result.profileId && result.kind !== 'reply') account.log(RED._(`twilio-account.log.${result.kind}`, { profile: result.profileId }));
    }
    // The same empty answer whether or not the number belongs to anyone.
    res.status(200).type('text/xml').send(EMPTY_TWIML);
  });
}
