/**
 * event-in: the door of a journey. Takes an event from msg, validates and normalises it,
 * drops a duplicate messageId, records it, resolves or creates the profile and counts the
 * event on it. Accepted events leave by output 1, refused ones by output 2.
 */
import { ingestEvent } from '../../lib/index.js';
import { redUtil, registerNode, type NodeAPI, type NodeDef, type Node } from '../shared/red.js';
import { useStore } from '../shared/store-user.js';

interface EventInDef extends NodeDef {
  store?: string;
  property?: string;
  journey?: string;
}

export = function (RED: NodeAPI): void {
  function EventInNode(this: Node, def: EventInDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const property = def.property?.trim() || 'payload';
    const journey = def.journey?.trim() || undefined;
    const util = redUtil(RED);

    useStore(RED, node, def.store, { textKey: 'event-in.status.counts', keys: ['accepted', 'rejected'], warnKey: 'rejected' }, (user) => async (msg, send) => {
      const store = await user.store();
      const result = await ingestEvent(store, util.getMessageProperty(msg, property));
      if (result.status === 'rejected') {
        user.badge.bump('rejected');
        msg.error = { code: result.code, message: result.reason, source: { id: node.id, type: 'event-in' } };
        // A duplicate is the idempotency working as meant, not a fault: only bad input is an error.
        if (result.code !== 'DUPLICATE') node.error(RED._('event-in.errors.rejected', { reason: result.reason }), msg);
        send([null, msg]);
        return;
      }
      user.badge.bump('accepted');
      msg.event = result.event;
      msg.profile = result.profile;
      msg.profileId = result.profile._id;
      if (journey) msg.journey = { ...(isObject(msg.journey) ? msg.journey : {}), name: journey };
      send([msg, null]);
    });
  }

  registerNode(RED, 'event-in', EventInNode);
};

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
