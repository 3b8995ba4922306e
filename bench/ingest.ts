/**
 * Ingest: events through event-in -> profile-merge -> segment -> track in a real Node-RED
 * runtime (bench/node-red.ts), a bounded number in flight, beside the ceiling: the same
 * people's profile documents upserted raw, one write per event, with as many in flight.
 */
import { claimDoc, COLLECTIONS, type IdentityDoc, type Profile, type Store, type Update } from '../lib/index.js';
import { profileDoc } from '../test/support/stores.js';
import { closedLoop, peakRss, percentile } from './measure.js';
import { benchNodeRed, type Credentials, type FlowNode } from './node-red.js';

export interface IngestArm {
  arm: string;
  events: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  peakRssMiB: number;
  /** Through the flow: events that reached track (in the segment), and handlers that failed. */
  qualified?: number;
  failed?: number;
  /** Commands sent to the server per event, when they were counted. */
  commandsPerEvent?: number;
}

/** One profile document's upsert, by the plainest writer of a store (the bare driver on MongoDB). */
export type RawUpsert = (profileId: string, update: Update) => Promise<void>;

export interface IngestPlan {
  events: number;
  /** A journey-store config node on a fresh store, id STORE, and its credentials. */
  store: { node: FlowNode; credentials: Credentials };
  /** Upserts into a fresh place of the same kind of store. */
  raw: RawUpsert;
  /** Commands sent to the server so far by both arms, where they are counted (MongoDB). */
  sent?: () => number;
}

export const STORE = 'bench-store';
export const IN_FLIGHT = 64;
const WARM_UP = 300;
const z = 'bench-ingest';

/** The segment: paying people who let us email them. */
const QUALIFIED = {
  match: 'all',
  rules: [
    { kind: 'trait', field: 'plan', op: 'eq', value: 'pro' },
    { kind: 'consent', channel: 'email', granted: true },
  ],
};

const flows = (store: FlowNode): FlowNode[] => [
  { id: z, type: 'tab', label: 'bench: ingest' },
  { ...store, id: STORE },
  { id: 'ingest-in', type: 'event-in', z, store: STORE, property: 'payload', journey: '', wires: [['ingest-merge'], []] },
  {
    id: 'ingest-merge',
    type: 'profile-merge',
    z,
    store: STORE,
    traits: 'payload.traits',
    consent: 'payload.consent',
    strategy: 'overwrite',
    fields: [
      { field: 'visits', strategy: 'sum' },
      { field: 'firstSource', strategy: 'keepFirst' },
    ],
    wires: [['ingest-segment']],
  },
  { id: 'ingest-segment', type: 'segment', z, store: STORE, mode: 'profile', rules: QUALIFIED, wires: [['ingest-track'], []] },
  { id: 'ingest-track', type: 'track', z, store: STORE, milestone: 'qualified', wires: [[]] },
];

interface MixedEvent {
  userId: string;
  payload: Record<string, unknown>;
  /** What the event changes on its person's profile document, as one upsert. */
  raw: Update;
}

/**
 * Event i of a run: one in four is a new person signing up (identify: userId and email,
 * traits, consent); the rest come from people seen before, two page views (track: a
 * property, a visit counted) for each change of plan (identify: a trait).
 */
export function mixedEvent(run: string, i: number, at: Date): MixedEvent {
  const signedUp = Math.floor(i / 4) + 1;
  const person = i % 4 === 0 ? signedUp - 1 : (i * 7919) % signedUp;
  const userId = `${run}-u${person}`;
  const messageId = `${run}-m${i}`;
  if (i % 4 === 0) {
    const traits = { firstName: `Person ${person}`, plan: person % 3 === 0 ? 'free' : 'pro', firstSource: 'ads', visits: 1 };
    const email = person % 5 !== 0;
    const identities = { userId, email: `${userId}@example.com` };
    return {
      userId,
      payload: { name: 'signed_up', messageId, identities, traits, consent: { email } },
      raw: {
        $setOnInsert: { identities: { userId: [userId], email: [identities.email] }, createdAt: at, 'traits.firstSource': traits.firstSource },
        $set: { 'traits.firstName': traits.firstName, 'traits.plan': traits.plan, 'consent.email': { status: email ? 'granted' : 'denied', at }, updatedAt: at },
        $inc: { 'traits.visits': 1, 'aggregates.signed_up.count': 1 },
      },
    };
  }
  if (i % 3 === 0) {
    const plan = i % 2 === 0 ? 'pro' : 'free';
    return {
      userId,
      payload: { name: 'plan_changed', messageId, identities: { userId }, properties: { plan }, traits: { plan } },
      raw: { $set: { 'traits.plan': plan, updatedAt: at }, $inc: { 'aggregates.plan_changed.count': 1 } },
    };
  }
  return {
    userId,
    payload: { name: 'page_viewed', messageId, identities: { userId }, properties: { path: `/products/${i % 50}` }, traits: { visits: 1 } },
    raw: { $set: { updatedAt: at }, $inc: { 'traits.visits': 1, 'aggregates.page_viewed.count': 1 } },
  };
}

function arm(name: string, events: number, run: { latencies: number[]; seconds: number }, rss: number, commands?: number): IngestArm {
  const sorted = [...run.latencies].sort((a, b) => a - b);
  return {
    arm: name,
    events,
    seconds: run.seconds,
    perSecond: events / run.seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    peakRssMiB: rss,
    ...(commands === undefined ? {} : { commandsPerEvent: commands / events }),
  };
}

export async function benchIngest(plan: IngestPlan): Promise<IngestArm[]> {
  const at = new Date();
  // Raw: the profile document each event would touch, written once.
  await closedLoop(WARM_UP, IN_FLIGHT, async (i) => {
    const event = mixedEvent('warm', i, at);
    await plan.raw(event.userId, event.raw);
  });
  let rss = peakRss();
  const counted = commandCounter(plan.sent);
  const raw = arm(
    'raw profile upsert',
    plan.events,
    await closedLoop(plan.events, IN_FLIGHT, async (i) => {
      const event = mixedEvent('run', i, at);
      await plan.raw(event.userId, event.raw);
    }),
    rss.stop(),
    counted(),
  );

  // Journeys: the msg handed to event-in, done when its last copy has left the flow.
  const red = await benchNodeRed();
  await red.deploy(flows(plan.store.node), plan.store.credentials);
  const through = (run: string) => (i: number) =>
    new Promise<void>((settled) => {
      const msgId = `${run}-${i}`;
      red.inject('ingest-in', { _msgid: msgId, payload: mixedEvent(run, i, new Date()).payload }, settled);
    });
  await closedLoop(WARM_UP, IN_FLIGHT, through('warm'));
  red.resetTally();
  rss = peakRss();
  const countedFlow = commandCounter(plan.sent);
  const flow = arm('event-in → profile-merge → segment → track', plan.events, await closedLoop(plan.events, IN_FLIGHT, through('run')), rss.stop(), countedFlow());
  const tally = red.tally();
  // The flow goes while its store is still reachable: the relay it talks through stops next.
  await red.deploy([]);
  const qualified = tally.received('ingest-track');
  // Most signups are paying and let us email them: none through means the flow is broken, and its rate means nothing.
  if (qualified === 0) throw new Error('ingest: the segment let no event through to track');
  return [raw, { ...flow, qualified, failed: tally.failed }];
}

/** The commands sent from now until the returned function is called (undefined where they are not counted). */
function commandCounter(sent: (() => number) | undefined): () => number | undefined {
  const from = sent?.();
  return () => (sent && from !== undefined ? sent() - from : undefined);
}

const SEED_BATCH = 5_000;

/**
 * `count` people the run's events never name, each a profile with its userId and email
 * claimed, as earlier events leave them: the store a flow meets once it has run a while.
 */
export async function seedPeople(store: Store, count: number): Promise<void> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  const claims = store.collection<IdentityDoc>(COLLECTIONS.identities);
  const at = new Date();
  for (let start = 0; start < count; start += SEED_BATCH) {
    const batch = Array.from({ length: Math.min(SEED_BATCH, count - start) }, (_, k) => {
      const userId = `earlier-u${start + k}`;
      return { _id: `earlier-p${start + k}`, userId, email: `${userId}@example.com`, pro: (start + k) % 3 !== 0 };
    });
    await profiles.insertMany(
      batch.map((p) =>
        profileDoc(
          p._id,
          {
            identities: { userId: [p.userId], email: [p.email] },
            traits: { firstName: `Person ${p.userId}`, plan: p.pro ? 'pro' : 'free', firstSource: 'ads', visits: 3 },
            consent: { email: { status: 'granted', at } },
            aggregates: { signed_up: { count: 1, first: at, last: at }, page_viewed: { count: 2, first: at, last: at } },
          },
          at,
        ),
      ),
    );
    await claims.insertMany(batch.flatMap((p) => [claimDoc('userId', p.userId, p._id, at), claimDoc('email', p.email, p._id, at)]));
  }
}
