/** What send-sms and the inbound route need of a twilio-account config node. */
import type { AccountNode } from '../shared/sender.js';

export interface TwilioAccountNode extends AccountNode {
  /** The auth token that signs Twilio's webhooks to this account ('' when none is set). */
  authToken(): string;
  /** The journey-store id inbound messages go to, or '' when none is chosen. */
  inboundStore(): string;
}
