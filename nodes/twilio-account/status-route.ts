/**
 * POST /journeys/sms/status/:account on Node-RED's HTTP root: where Twilio reports what
 * became of each SMS sent through the account (its StatusCallback, set on every send while
 * the account has a "Replies to" store). Signed like the inbound webhook; the receipt is
 * recorded on the delivery in that store.
 */
import { applyStatusCallback } from '../../lib/channels/sms/index.js';
import type { NodeAPI } from '../shared/red.js';
import { findStoreConfig } from '../shared/store-client.js';
import type { TwilioAccountNode } from './account-node.js';
import { registerTwilioWebhook, webhookUrl } from './webhook.js';

export const STATUS_PATH = '/journeys/sms/status/';

/** The StatusCallback for the account's sends, or null without a store to record receipts in. */
export function statusCallbackUrl(RED: NodeAPI, account: TwilioAccountNode): string | null {
  const config = findStoreConfig(RED, account.inboundStore());
  return config ? webhookUrl(config, STATUS_PATH, account.id) : null;
}

export function registerStatus(RED: NodeAPI): void {
  registerTwilioWebhook(RED, STATUS_PATH, 'an SMS status callback', async ({ account, config, form }, res) => {
    // Without a store (it was unset after the message went out) there is nowhere to record it:
    // answered all the same, as is a SID no delivery has, so Twilio stops retrying.
    if (config) {
      const result = await applyStatusCallback(await config.getStore(), form, new Date());
      if (result.kind === 'recorded' && result.consentWithdrawn) {
        account.log(RED._('twilio-account.log.receipt-withdrew', { profile: result.profileId, code: result.receipt.errorCode ?? '' }));
      }
    }
    res.status(200).end();
  });
}
