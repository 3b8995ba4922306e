/**
 * What became of every event the soak offered, from three independent records: the flows'
 * HTTP answers, the store (instances and deliveries), and what the SMTP server and the
 * Twilio double received.
 *
 * Lost: an event answered "entered" with no journey instance for it; an instance still live
 * after the drain; a completed instance missing a delivery its path required; a delivery not
 * settled, failed, or left in the outbox; a delivery recorded as sent that its server never
 * received. Duplicated: a delivery received more than once, a message received that no
 * delivery accounts for, an instance no entered answer accounts for.
 */
import { COLLECTIONS, type Delivery, type JourneyInstance, type Store } from '../../lib/index.js';
import type { AcceptedMessage } from '../../test/support/twilio-api.js';
import { percentile } from '../measure.js';
import { JOURNEYS, type Answer } from './traffic.js';

export interface Receipts {
  /** Emails by their X-Journeys-Delivery header: when each copy arrived (ms since the epoch). */
  email: Map<string, number[]>;
  /** Emails that carried no delivery header. */
  emailUnlabelled: number;
  sms: readonly AcceptedMessage[];
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface Audit {
  lost: number;
  lostBy: Record<string, number>;
  duplicated: number;
  duplicatedBy: Record<string, number>;
  /** journey → status → instances. */
  instances: Record<string, Record<string, number>>;
  /** node → "sent", "skipped: reason", "failed: reason" → deliveries. */
  deliveries: Record<string, Record<string, number>>;
  received: { email: number; sms: number };
  /** Event offered to its first send received, for sends with no wait before them. */
  direct: LatencySummary;
  /** Event offered to a send after waits, minus the waits' set length: how late it came. */
  afterWaits: LatencySummary;
  /** Sends received whose event could not be told apart (a person with an unanswered event in the journey): not in the latencies. */
  unattributed: number;
}

/** How many of the shortened waits come before each sender, and the sender a completed instance must reach. */
const WAITS_BEFORE: Record<string, number> = { s2: 1, 'ac-mail-a': 1, 'ac-mail-b': 1, 'ac-sms': 2 };
const VARIANT_MAIL: Record<string, Record<string, string>> = {
  promo: { A: 'ab-mail-a', B: 'ab-mail-b' },
  'abandoned-cart': { A: 'ac-mail-a', B: 'ac-mail-b' },
};
const SPLIT_OF: Record<string, string> = { promo: 'ab-split', 'abandoned-cart': 'ac-split' };
const CAPTURE_SENDER = 'a13';
const isCaptureSignUp = (a: Answer) => a.endpoint === 'capture' && a.name === 'signed_up';
/** The segment in Abandoned cart: carts over this value get the SMS. */
const HIGH_VALUE_CART = 100;

export async function audit(input: { answers: readonly Answer[]; store: Store; receipts: Receipts; waitSeconds: number }): Promise<Audit> {
  const { answers, store, receipts } = input;
  const lostBy: Record<string, number> = {};
  const duplicatedBy: Record<string, number> = {};
  const count = (into: Record<string, number>, why: string, n = 1) => {
    if (n > 0) into[why] = (into[why] ?? 0) + n;
  };

  const journeys = Object.values(JOURNEYS).filter((j): j is string => j !== null);
  const instances: JourneyInstance[] = [];
  for await (const i of store.collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: { $in: journeys } }, { projection: { snapshot: 0 } })) instances.push(i);
  const deliveries: Delivery[] = [];
  for await (const d of store.collection<Delivery>(COLLECTIONS.deliveries).find({}, { projection: { content: 0 } })) deliveries.push(d);

  // Entered answers and instances, per journey and profile, paired in time order.
  const eventOf = new Map<string, Answer>();
  const entered = groupBy(
    answers.filter((a) => a.outcome === 'entered' && JOURNEYS[a.endpoint] && a.profileId),
    (a) => `${JOURNEYS[a.endpoint]}|${a.profileId}`,
  );
  const byPerson = groupBy(instances, (i) => `${i.journey}|${i.profileId}`);
  // An event whose answer never came (a timeout) may have entered: so many instances beyond the answers are accounted for.
  const unanswered = groupBy(
    answers.filter((a) => a.status === 0),
    (a) => JOURNEYS[a.endpoint] ?? (isCaptureSignUp(a) ? CAPTURE_SENDER : ''),
  );
  const beyondAnswers: Record<string, number> = {};
  for (const key of new Set([...entered.keys(), ...byPerson.keys()])) {
    const said = (entered.get(key) ?? []).sort((a, b) => a.at - b.at);
    const made = (byPerson.get(key) ?? []).sort((a, b) => a.enteredAt.getTime() - b.enteredAt.getTime());
    // Paired only when the counts agree: an unanswered event that entered would shift every pair after it.
    if (said.length === made.length) made.forEach((instance, k) => eventOf.set(instance._id, said[k]!));
    count(lostBy, 'answered "entered", no instance', said.length - made.length);
    count(beyondAnswers, key.slice(0, key.indexOf('|')), made.length - said.length);
  }

  const deliveryAt = new Map<string, Delivery>(deliveries.map((d) => [`${d.node}|${d.instanceId}`, d]));
  const instanceCounts: Record<string, Record<string, number>> = {};
  for (const i of instances) {
    count((instanceCounts[i.journey] ??= {}), i.status);
    if (i.status === 'active' || i.status === 'waiting') {
      count(lostBy, `instance still ${i.status}${i.waitingAt ? ` at ${i.waitingAt}` : ''} after the drain`);
      continue;
    }
    if (i.status !== 'completed') continue;
    for (const node of requiredSenders(i, deliveryAt, eventOf.get(i._id))) {
      if (!deliveryAt.has(`${node}|${i._id}`)) count(lostBy, `completed without a delivery at ${node}`);
    }
  }

  // Sign-ups into Capture events: each one's email, outside any journey.
  const captureSignUps = groupBy(
    answers.filter((a) => isCaptureSignUp(a) && a.outcome === 'recorded' && a.profileId),
    (a) => a.profileId!,
  );
  const captureMails = groupBy(
    deliveries.filter((d) => d.node === CAPTURE_SENDER),
    (d) => d.profileId,
  );
  const captureEventOf = new Map<string, Answer>();
  for (const profileId of new Set([...captureSignUps.keys(), ...captureMails.keys()])) {
    const said = (captureSignUps.get(profileId) ?? []).sort((a, b) => a.at - b.at);
    const made = (captureMails.get(profileId) ?? []).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    if (said.length === made.length) made.forEach((d, k) => captureEventOf.set(d._id, said[k]!));
    count(lostBy, 'capture sign-up without its email delivery', said.length - made.length);
    count(beyondAnswers, CAPTURE_SENDER, made.length - said.length);
  }
  for (const [what, n] of Object.entries(beyondAnswers)) {
    const why = what === CAPTURE_SENDER ? 'capture email no sign-up accounts for' : `${what} instance no "entered" answer accounts for`;
    count(duplicatedBy, why, n - (unanswered.get(what)?.length ?? 0));
  }

  const smsBySid = groupBy(receipts.sms, (m) => m.sid);
  const deliveryCounts: Record<string, Record<string, number>> = {};
  const direct: number[] = [];
  const afterWaits: number[] = [];
  let unattributed = 0;
  const sids = new Set<string>();
  for (const d of deliveries) {
    const state = d.status === 'skipped' || d.status === 'failed' ? `${d.status}: ${d.reason ?? '?'}` : d.status;
    count((deliveryCounts[d.node] ??= {}), state);
    if (d.status === 'queued' || d.status === 'sending') count(lostBy, `delivery left ${d.status}`);
    if (d.status === 'failed') count(lostBy, `delivery failed (${d.reason ?? '?'})`);
    if (d.status !== 'sent') continue;
    if (d.outbox) {
      count(lostBy, 'delivery left in the outbox (no provider)');
      continue;
    }
    const arrivals = d.channel === 'email' ? (receipts.email.get(d._id) ?? []) : d.channel === 'sms' ? (smsBySid.get(d.providerMessageId ?? '') ?? []).map((m) => m.receivedAt) : [];
    if (d.providerMessageId) sids.add(d.providerMessageId);
    if (arrivals.length === 0) {
      count(lostBy, `${d.channel} recorded as sent, never received`);
      continue;
    }
    count(duplicatedBy, `${d.channel} received more than once`, arrivals.length - 1);
    const event = d.instanceId ? eventOf.get(d.instanceId) : captureEventOf.get(d._id);
    if (!event) {
      unattributed += 1;
      continue;
    }
    const waits = WAITS_BEFORE[d.node] ?? 0;
    const late = Math.min(...arrivals) - event.at - waits * input.waitSeconds * 1000;
    (waits === 0 ? direct : afterWaits).push(late);
  }
  const known = new Set(deliveries.map((d) => d._id));
  count(duplicatedBy, 'email received that no delivery accounts for', [...receipts.email.entries()].filter(([id]) => !known.has(id)).reduce((n, [, at]) => n + at.length, 0));
  count(duplicatedBy, 'email received without a delivery header', receipts.emailUnlabelled);
  count(duplicatedBy, 'sms received that no delivery accounts for', receipts.sms.filter((m) => !sids.has(m.sid)).length);

  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  return {
    lost: sum(lostBy),
    lostBy,
    duplicated: sum(duplicatedBy),
    duplicatedBy,
    instances: instanceCounts,
    deliveries: deliveryCounts,
    received: { email: [...receipts.email.values()].reduce((n, at) => n + at.length, 0) + receipts.emailUnlabelled, sms: receipts.sms.length },
    direct: summarise(direct),
    afterWaits: summarise(afterWaits),
    unattributed,
  };
}

/** The senders a completed instance must have reached, by the example flows' structure. */
function requiredSenders(i: JourneyInstance, deliveryAt: Map<string, Delivery>, event: Answer | undefined): string[] {
  const sent = (node: string) => deliveryAt.get(`${node}|${i._id}`)?.status === 'sent';
  switch (i.journey) {
    case 'welcome-series':
      return sent('s1') ? ['s1', 's2'] : ['s1'];
    case 'order-follow-up':
      return ['wh-mail'];
    case 'promo':
    case 'abandoned-cart': {
      const mail = VARIANT_MAIL[i.journey]![i.variants[SPLIT_OF[i.journey]!] ?? ''];
      if (!mail) return ['a variant at the split'];
      // The cart's value decides the SMS; when the instance's event is not known, its path says whether the day's wait was taken.
      const highValue = event ? (event.cartValue ?? 0) > HIGH_VALUE_CART : i.path.some((step) => step.node === 'ac-wait24');
      return i.journey === 'abandoned-cart' && sent(mail) && highValue ? [mail, 'ac-sms'] : [mail];
    }
    default:
      return [];
  }
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

function summarise(values: number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN };
}
