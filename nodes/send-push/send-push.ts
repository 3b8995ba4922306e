/**
 * send-push: renders the title, body and link templates for the msg's profile and sends
 * them to each of its device tokens through an FCM account, or records them in the outbox
 * when no account is chosen. Consent, the frequency cap, quiet hours and exactly-once
 * delivery are shared with the other senders (nodes/shared/sender.ts). Tokens FCM reports
 * unregistered or invalid are removed from the profile.
 * Outputs: 1 sent; 2 not sent, with msg.delivery.reason.
 */
import { pushChannel } from '../../lib/channels/push/index.js';
import { channelTemplates } from '../../lib/index.js';
import { registerPreview } from '../shared/preview.js';
import { registerNode, type Node, type NodeAPI } from '../shared/red.js';
import { defineSender, type SenderDef } from '../shared/sender.js';

interface SendPushDef extends SenderDef {
  title?: string;
  body?: string;
  link?: string;
}

export = function (RED: NodeAPI): void {
  function SendPushNode(this: Node, def: SendPushDef): void {
    RED.nodes.createNode(this, def);
    defineSender(RED, this, def, {
      channel: 'push',
      templates: () => channelTemplates('push', { title: def.title ?? '', body: def.body ?? '', link: def.link ?? '' }),
      channelSpec: () => pushChannel(),
    });
  }

  registerNode(RED, 'send-push', SendPushNode);
  registerPreview(RED);
};
