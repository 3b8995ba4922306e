/**
 * event-in: the door of a journey. Takes an event from msg, validates and normalises it,
 * drops a duplicate messageId, records it, resolves or creates the profile and counts the
 * event on it, ends live instances that the event exits or converts, and — when the node
 * names a journey — enrols the profile under the journey's re-entry policy.
 * Output 1: accepted (entered); output 2: rejected (invalid, duplicate, not re-entrant, busy).
 *
 * Busy: Node-RED passes msgs on without back-pressure, so events arriving faster than the
 * journeys behind them finish would pile up in memory until the process fails. Above a limit
 * of journey msgs in flight in the runtime, an event is refused before anything is stored,
 * and a webhook sender is told to come back (503, Retry-After).
 */
import { derivedInstanceId, enrol, finishEvent, ingestEvent, RefusalNotice } from '../../lib/index.js';
import { defineJourney, nameList, reentryPolicy, type JourneyEntryDef } from '../shared/journey-entry.js';
import { inFlight } from '../shared/completion.js';
import { journeys } from '../shared/journeys.js';
import { markPointed } from '../shared/resume.js';
import { redUtil, registerNode, type NodeAPI, type NodeDef, type Node, type NodeMessage, type NodeMessageInFlow, type Send } from '../shared/red.js';
import { useStore } from '../shared/store-user.js';
import { registerHook, registerWebhookRoute, type HookOutcome } from './webhook-route.js';

interface EventInDef extends NodeDef, JourneyEntryDef {
  store?: string;
  property?: string;
  journey?: string;
  trigger?: string;
  /** Receives signed events at POST /journeys/hooks/<webhook> too. */
  webhook?: string;
  /** Refuses events while this many journey msgs are in flight in the runtime; 0: never. */
  maxInFlight?: number | string;
}

const DEFAULT_MAX_IN_FLIGHT = 1_000;
const BUSY_RETRY_AFTER_SECONDS = 1;

interface Credentials {
  secret?: string;
}

/** How each way an event leaves the node answers a webhook sender. */
type Outcome = { entered: boolean; code?: string; message?: string; profileId?: string };

const INVALID = new Set(['NOT_AN_OBJECT', 'BAD_NAME', 'NO_IDENTITY', 'BAD_IDENTITY', 'BAD_KEY', 'BAD_VALUE', 'TOO_LARGE', 'TOO_DEEP', 'BAD_TIMESTAMP', 'BAD_MESSAGE_ID']);

export = function (RED: NodeAPI): void {
  function EventInNode(this: Node, def: EventInDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const credentials = (node.credentials ?? {}) as Credentials;
    const property = def.property?.trim() || 'payload';
    const journey = def.journey?.trim() || undefined;
    const trigger = nameList(def.trigger);
    const policy = reentryPolicy(def);
    const util = redUtil(RED);
    const maxInFlight = inFlightLimit(def.maxInFlight);
    if (journey) defineJourney(node, journey, def);

    const badge = {
      textKey: journey ? 'event-in.status.journey-counts' : 'event-in.status.counts',
      keys: ['accepted', 'recorded', 'rejected'] as const,
      warnKey: 'rejected' as const,
      kept: true,
    };
    useStore(RED, node, def.store, badge, (user) => {
      /** Takes one event msg through the node; says how it left, for a webhook's answer. */
      let handling = 0;
      const refusals = new RefusalNotice();
      // Translated once: under overload every refused event needs it, and i18next's lookup costs more than the refusal.
      let busyMessage: string | undefined;
      const handle = async (msg: NodeMessageInFlow, send: Send): Promise<Outcome> => {
        if (maxInFlight > 0 && handling + inFlight.size >= maxInFlight) {
          user.badge.bump('rejected');
          const message = (busyMessage ??= RED._('event-in.errors.busy', { limit: maxInFlight }));
          msg.error = { code: 'BUSY', message, source: { id: node.id, type: 'event-in' } };
          // For an http-in flow whose rejected output answers with an http response node.
          msg.statusCode = 503;
          msg.headers = { 'Retry-After': String(BUSY_RETRY_AFTER_SECONDS) };
          const warning = refusals.refuse(Date.now());
          if (warning?.kind === 'busy') node.warn(message);
          else if (warning) node.warn(RED._('event-in.errors.still-busy', { limit: maxInFlight, count: warning.refused }));
          send([null, msg]);
          return { entered: false, code: 'BUSY', message };
        }
        handling += 1;
        try {
          return await ingest(msg, send);
        } finally {
          handling -= 1;
        }
      };

      const ingest = async (msg: NodeMessageInFlow, send: Send): Promise<Outcome> => {
        const store = await user.store();
        // The claim on the messageId is held until the event's journey work is done: a retry
        // after a crash in that work does it again rather than being told it is a duplicate.
        const result = await ingestEvent(store, util.getMessageProperty(msg, property), { keepClaim: true });
        if (result.status === 'rejected') {
          user.badge.bump('rejected');
          msg.error = { code: result.code, message: result.reason, source: { id: node.id, type: 'event-in' } };
          // A duplicate or a retry of an event in progress is the idempotency working as meant, not a fault: only bad input is an error.
          if (result.code !== 'DUPLICATE' && result.code !== 'IN_PROGRESS') node.error(RED._('event-in.errors.rejected', { reason: result.reason }), msg);
          send([null, msg]);
          return { entered: false, code: result.code, message: result.reason };
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
        const finish = () => finishEvent(store, event.messageId, profile._id);
        if (!journey) {
          await finish();
          user.badge.bump('accepted');
          send([msg, null]);
          return { entered: false, profileId: profile._id };
        }
        // Every msg leaves by one output, so an http-in flow can always answer.
        const notEntered = (code: string, message: string): Outcome => {
          msg.error = { code, message, source: { id: node.id, type: 'event-in' } };
          send([null, msg]);
          return { entered: false, code, message, profileId: profile._id };
        };
        if (trigger.length > 0 && !trigger.includes(event.name)) {
          // Recorded on the profile and applied to exits and goals; it starts nothing.
          await finish();
          user.badge.bump('recorded');
          return notEntered('NOT_A_TRIGGER', `event ${event.name} does not start journey ${journey}`);
        }
        // Named by the event, so a retry that redoes the enrolment finds the instance it made;
        // the point goes in with the instance: no live instance is ever without one.
        const instanceId = derivedInstanceId('event', journey, event.messageId);
        const resume = await user.config.resumePoint(node.id, 0, msg);
        // Read before the enrolment writes the point: a lapse from here on ends this term.
        const term = user.config.term();
        const enrolment = await enrol(store, { journey, profileId: profile._id, policy, at: now, entryNode: node.id, instanceId, resume });
        await finish();
        if (enrolment.status === 'entered' && enrolment.again) {
          // Entered by an earlier attempt whose process died: its resume point carries it on
          // (the journey-store's takeover), so this retry only learns that it is in.
          user.badge.bump('rejected');
          return notEntered('DUPLICATE', `messageId ${JSON.stringify(event.messageId)} was already received`);
        }
        if (enrolment.status === 'refused') {
          user.badge.bump('rejected');
          return notEntered(enrolment.code, enrolment.reason);
        }
        user.badge.bump('accepted');
        msg.journey = { name: journey, instanceId: enrolment.instance._id };
        markPointed(msg, term);
        user.config.followInstance(enrolment.instance._id);
        send([msg, null]);
        return { entered: true, profileId: profile._id };
      };

      const hookName = def.webhook?.trim();
      if (hookName) {
        const leave = registerHook(hookName, {
          secret: () => credentials.secret ?? '',
          receive: async (payload) => {
            const msg = { _msgid: RED.util.generateId(), payload, webhook: hookName } as NodeMessageInFlow;
            util.setMessageProperty(msg, property, payload, true);
            let outcome: Outcome;
            try {
              outcome = await handle(msg, (out) => node.send(out as NodeMessage[]));
            } catch (err) {
              node.error(err, msg);
              throw err;
            }
            return answer(outcome);
          },
        });
        node.on('close', leave);
      }

      return async (msg, send) => {
        await handle(msg, send);
      };
    });
  }

  registerNode(RED, 'event-in', EventInNode, { credentials: { secret: { type: 'password' } } });
  registerWebhookRoute(RED);
};

/** A webhook's answer: 202 when the event was taken (entered or only recorded), 200 for a duplicate, 503 (try again) while the same messageId is in progress, 400 for an invalid one. */
function answer(outcome: Outcome): HookOutcome {
  const base = { entered: outcome.entered, ...(outcome.profileId ? { profileId: outcome.profileId } : {}) };
  if (outcome.code === 'DUPLICATE') return { status: 200, body: { accepted: false, duplicate: true } };
  // Both mean: nothing was decided, send the same event again after a moment.
  if (outcome.code === 'BUSY' || outcome.code === 'IN_PROGRESS') {
    return { status: 503, headers: { 'Retry-After': String(BUSY_RETRY_AFTER_SECONDS) }, body: { accepted: false, error: { code: outcome.code, message: outcome.message } } };
  }
  if (outcome.code && INVALID.has(outcome.code)) return { status: 400, body: { accepted: false, error: { code: outcome.code, message: outcome.message } } };
  return { status: 202, body: { accepted: true, ...base, ...(outcome.code ? { reason: outcome.code } : {}) } };
}

/** The editor saves a number; a flow written by hand may hold "500" or nothing (the default). */
function inFlightLimit(value: number | string | undefined): number {
  const n = value === undefined || value === '' ? DEFAULT_MAX_IN_FLIGHT : Number(value);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_MAX_IN_FLIGHT;
}
