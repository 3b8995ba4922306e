/**
 * twilio-account (config): a Twilio account to send SMS through, and the endpoint its
 * phone number's inbound messages come to. The auth token is a credential, never in the
 * flow file. It owns one SDK client for all the send-sms nodes that use it.
 */
import { stoppedByCarrier, twilioAccountProblem, twilioProvider, type TwilioAccount } from '../../lib/channels/sms/index.js';
import type { Delivery, Provider, Store } from '../../lib/index.js';
import { registerNode, type NodeAPI, type NodeDef } from '../shared/red.js';
import type { TwilioAccountNode } from './account-node.js';
import { registerInbound } from './inbound-route.js';

interface TwilioAccountDef extends NodeDef {
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
    const stores = new Map<string, () => Promise<Store>>();
    let made: Provider | null = null;

    const onStop = async (delivery: Delivery) => {
      const store = stores.get(delivery.node);
      if (!store) return;
      await stoppedByCarrier(await store(), delivery, new Date());
    };

    node.provider = () => {
      const account: TwilioAccount = {
        accountSid: def.accountSid?.trim() ?? '',
        authToken: credentials.authToken ?? '',
        from: (def.from ?? '').replace(/[\s().-]/g, ''),
        ...(def.baseUrl?.trim() ? { baseUrl: def.baseUrl.trim() } : {}),
      };
      const problem = twilioAccountProblem(account);
      if (problem) return new Error(RED._('twilio-account.errors.bad-account', { reason: problem }));
      made ??= twilioProvider(account, onStop);
      return made;
    };
    node.authToken = () => credentials.authToken ?? '';
    node.inboundStore = () => def.store ?? '';
    node.watchStops = (nodeId, store) => {
      stores.set(nodeId, store);
      return () => {
        if (stores.get(nodeId) === store) stores.delete(nodeId);
      };
    };

    node.on('close', () => {
      made = null;
      stores.clear();
    });
  }

  registerNode(RED, 'twilio-account', TwilioAccountNode, {
    credentials: { authToken: { type: 'password' } },
  });
  registerInbound(RED);
};
