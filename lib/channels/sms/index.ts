/** The SMS channel: addresses, the Twilio provider, inbound replies and delivery receipts. */
import type { ChannelSpec } from '../send.js';
import { smsAddress } from './address.js';

export { compactPhone, smsAddress, toE164 } from './address.js';
export {
  classify as classifyTwilioError,
  isAccountSid,
  isMessagingServiceSid,
  retryAfterMs,
  twilioAccountProblem,
  twilioProvider,
  TWILIO_STOPPED,
  type TwilioAccount,
  type TwilioProviderOptions,
} from './twilio.js';
export { handleInbound, inboundKind, profileByPhone, verifyInbound, type InboundKind, type InboundResult } from './inbound.js';
export { applyStatusCallback, type ReceiptResult } from './receipts.js';

export type SmsField = 'body';

/** SMS content is the rendered body as it is: no links are rewritten. */
export function smsChannel(): ChannelSpec<SmsField> {
  return { channel: 'sms', addresses: smsAddress };
}
