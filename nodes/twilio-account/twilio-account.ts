/**
 * twilio-account (config): a Twilio account to send SMS through, and the endpoints its
 * phone number's inbound messages and its messages' delivery receipts come to. The auth
 * token is a credential, never in the flow file. It owns one SDK client for all the send-sms nodes that use it.
 */
import { twilioAccountProblem, twilioProvider, type TwilioAccount } from '../../lib/channels/sms/index.js';
import type { Provider } from '../../lib/index.js';
import { accountRetry, type AccountRetryDef } from '../shared/account-retry.js';
import { registerNode, type NodeAPI, type NodeDef } from '../shared/red.js';
import type { TwilioAccountNode } from './account-node.js';
import { registerInbound } from './inbound-route.js';
import { registerStatus, statusCallbackUrl } from './status-route.js';

interface TwilioAccountDef extends NodeDef, AccountRetryDef {
  accountSid?: string;
  from?: string;
  baseUrl?: string;
  /** The journey-store inbound replies (STOP, START...) are applied to. */
  store?: string;
}

interface Credentials {
  authToken?: string;
}

export = function (RED: NodeAPI): void {
  function TwilioAccountNode(this: TwilioAccountNode, def: TwilioAccountDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const credentials = (node.credentials ?? {}) as Credentials;
    let made: Provider | null = null;

    node.provider = () => {
      const retry = accountRetry(def);
      if (!retry.ok) return new Error(RED._('journeys.account.errors.bad-settings', { reason: retry.problem }));
      const account: TwilioAccount = {
        accountSid: def.accountSid?.trim() ?? '',
        authToken: credentials.authToken ?? '',
        from: (def.from ?? '').replace(/[\s().-]/g, ''),
        ...(def.baseUrl?.trim() ? { baseUrl: def.baseUrl.trim() } : {}),
        ...retry.settings,
      };
      const problem = twilioAccountProblem(account);
      if (problem) return new Error(RED._('twilio-account.errors.bad-account', { reason: problem }));
      made ??= twilioProvider(account, { statusCallback: () => statusCallbackUrl(RED, node) });
      return made;
    };
    node.authToken = () => credentials.authToken ?? '';
    node.inboundStore = () => def.store ?? '';

    node.on('close', () => {
      made = null;
    });
  }

  registerNode(RED, 'twilio-account', TwilioAccountNode, {
    credentials: { authToken: { type: 'password' } },
  });
  registerInbound(RED);
  registerStatus(RED);
};
