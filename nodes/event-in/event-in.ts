/**
 * event-in: the door of a journey. Takes an event from msg, validates and normalises it,
 * drops a duplicate messageId, records it, resolves or creates the profile and counts the
 * event on it, ends live instances that the event exits or converts, and — when the node
 * names a journey — enrols the profile under the journey's re-entry policy.
 * Output 1: accepted (entered); output 2: rejected (invalid, duplicate, not re-entrant).
 */
import { enrol, ingestEvent } from '../../lib/index.js';
import { defineJourney, nameList, reentryPolicy, type JourneyEntryDef } from '../shared/journey-entry.js';
import { journeys } from '../shared/journeys.js';
import { redUtil, registerNode, type NodeAPI, type NodeDef, type Node } from '../shared/red.js';
import { useStore } from '../shared/store-user.js';

interface EventInDef extends NodeDef, JourneyEntryDef {
  store?: string;
  property?: string;
  journey?: string;
  trigger?: string;
}

export = function (RED: NodeAPI): void {
  function EventInNode(this: Node, def: EventInDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const property = def.property?.trim() || 'payload';
    const journey = def.journey?.trim() || undefined;
    const trigger = nameList(def.trigger);
    const policy = reentryPolicy(def);
    const util = redUtil(RED);
    if (journey) defineJourney(node, journey, def);

    const badge = {
      textKey: journey ? 'event-in.status.journey-counts' : 'event-in.status.counts',
      keys: ['accepted', 'recorded', 'rejected'] as const,
      warnKey: 'rejected' as const,
      kept: true,
    };
    useStore(RED, node, def.store, badge, (user) => async (msg, send) => {
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
      const now = new Date();
      const { event, profile } = result;
      msg.event = event;
      msg.profile = profile;
      msg.profileId = profile._id;
      const ended = await journeys.applyEvent(store, profile._id, event.name, now);
      if (ended.length > 0) msg.ended = ended.map((i) => ({ instanceId: i._id, journey: i.journey, status: i.status }));
      const waits = await user.config.getWaits();
      await waits.cancel(ended);
      await waits.eventArrived(profile._id, event.name, {
        name: event.name,
        messageId: event.messageId,
        properties: event.properties,
        timestamp: event.timestamp.toISOString(),
      });
      if (!journey) {
        user.badge.bump('accepted');
        send([msg, null]);
        return;
      }
      // Every msg leaves by one output, so an http-in flow can always answer.
      const notEntered = (code: string, message: string) => {
        msg.error = { code, message, source: { id: node.id, type: 'event-in' } };
        send([null, msg]);
      };
      if (trigger.length > 0 && !trigger.includes(event.name)) {
        // Recorded on the profile and applied to exits and goals; it starts nothing.
        user.badge.bump('recorded');
        notEntered('NOT_A_TRIGGER', `event ${event.name} does not start journey ${journey}`);
        return;
      }
      const enrolment = await enrol(store, { journey, profileId: profile._id, policy, at: now, entryNode: node.id });
      if (enrolment.status === 'refused') {
        user.badge.bump('rejected');
        notEntered(enrolment.code, enrolment.reason);
        return;
      }
      user.badge.bump('accepted');
      msg.journey = { name: journey, instanceId: enrolment.instance._id };
      user.config.followInstance(enrolment.instance._id);
      send([msg, null]);
    });
  }

  registerNode(RED, 'event-in', EventInNode);
};
