/**
 * send-sms: renders the body template for the msg's profile and sends it through a Twilio
 * account, or records it in the outbox when no account is chosen. Consent, the frequency
 * cap, quiet hours and exactly-once delivery are shared with the other senders
 * (nodes/shared/sender.ts). Replies (STOP, START...) arrive at the Twilio account's
 * inbound webhook (nodes/twilio-account/inbound-route.ts).
 * Outputs: 1 sent; 2 not sent, with msg.delivery.reason.
 */
import { smsChannel } from '../../lib/channels/sms/index.js';
import { channelTemplates } from '../../lib/index.js';
import { registerPreview } from '../shared/preview.js';
import { registerNode, type Node, type NodeAPI } from '../shared/red.js';
import { defineSender, type SenderDef } from '../shared/sender.js';

interface SendSmsDef extends SenderDef {
  body?: string;
}

export = function (RED: NodeAPI): void {
  function SendSmsNode(this: Node, def: SendSmsDef): void {
    RED.nodes.createNode(this, def);
    defineSender(RED, this, def, {
      channel: 'sms',
      templates: () => channelTemplates('sms', { body: def.body ?? '' }),
      // A send Twilio refuses because the person replied STOP (21610) fails as `stop`, which withdraws SMS consent (lib/channels/send.ts).
      channelSpec: () => smsChannel(),
    });
  }

  registerNode(RED, 'send-sms', SendSmsNode);
  registerPreview(RED);
};
