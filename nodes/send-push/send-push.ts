/**
 * send-push: renders the title, body and link templates for the msg's profile and sends
 * them to each of its device tokens through an FCM account, or records them in the outbox
 * when no account is chosen. Consent, the frequency cap, quiet hours and exactly-once
 * delivery are shared with the other senders (nodes/shared/sender.ts). Tokens FCM reports
 * unregistered or invalid are removed from the profile.
 * Outputs: 1 sent; 2 not sent, with msg.delivery.reason.
 */
import { pushChannel, removePushTokens } from '../../lib/channels/push/index.js';
import { channelTemplates, type Store } from '../../lib/index.js';
import type { FcmAccountNode } from '../fcm-account/account.js';
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
    const node = this;
    let storeOf: (() => Promise<Store>) | null = null;
    const account = def.account ? (RED.nodes.getNode(def.account) as FcmAccountNode | null) : null;
    if (account && typeof account.onBadTokens === 'function') {
      const stop = account.onBadTokens(node.id, async (delivery, tokens) => {
        try {
          if (!storeOf) return;
          const removed = await removePushTokens(await storeOf(), delivery.profileId, tokens, new Date());
          if (removed > 0) node.log(RED._('send-push.log.tokens-removed', { count: removed, profile: delivery.profileId }));
        } catch (err) {
          node.warn(RED._('send-push.errors.token-removal', { profile: delivery.profileId, reason: (err as Error).message }));
        }
      });
      node.on('close', () => stop());
    }
    defineSender(RED, node, def, {
      channel: 'push',
      templates: () => channelTemplates('push', { title: def.title ?? '', body: def.body ?? '', link: def.link ?? '' }),
      channelSpec: (user) => {
        storeOf = user.store;
        return pushChannel();
      },
    });
  }

  registerNode(RED, 'send-push', SendPushNode);
  registerPreview(RED);
};
