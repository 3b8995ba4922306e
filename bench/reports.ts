/**
 * Reports: how long the journey list and one journey's full report take over a store
 * holding many instances and deliveries, beside one plain count of the same deliveries on
 * the same store (the cheapest read there is of them: the baseline).
 */
import { COLLECTIONS, countDelivery, journeyReport, listJourneys, type Delivery, type JourneyInstance, type Store } from '../lib/index.js';
import { percentile } from './measure.js';

export interface ReportArm {
  arm: string;
  p50: number;
  max: number;
}

const STATUSES = ['completed', 'completed', 'waiting', 'converted', 'exited'] as const;
const NODES = ['entry', 'split', 'mail', 'wait', 'sms'];

async function fill(store: Store, instances: number, deliveries: number): Promise<void> {
  const now = Date.now();
  const batch = 5_000;
  const docs: JourneyInstance[] = [];
  const flushInstances = async () => {
    if (docs.length) await store.collection<JourneyInstance>(COLLECTIONS.instances).insertMany(docs.splice(0));
  };
  for (let i = 0; i < instances; i++) {
    const at = new Date(now - (i % 30) * 86_400_000);
    const status = STATUSES[i % STATUSES.length]!;
    docs.push({
      _id: `i-${i}`,
      journey: i % 10 === 0 ? 'other' : 'promo',
      profileId: `p-${i}`,
      status,
      path: NODES.slice(0, 2 + (i % 4)).map((node) => ({ node, at })),
      variants: { split: i % 2 ? 'A' : 'B' },
      enteredAt: at,
      updatedAt: at,
      ...(status === 'waiting' ? {} : { endedAt: at }),
    });
    if (docs.length === batch) await flushInstances();
  }
  await flushInstances();
  const sent: Delivery[] = [];
  const flushDeliveries = async () => {
    if (sent.length) await store.collection<Delivery>(COLLECTIONS.deliveries).insertMany(sent.splice(0));
  };
  for (let d = 0; d < deliveries; d++) {
    const i = d % instances;
    const at = new Date(now - (i % 30) * 86_400_000);
    const failed = d % 50 === 0;
    sent.push({
      _id: `d-${d}`,
      channel: d % 3 ? 'email' : 'sms',
      node: d % 3 ? 'mail' : 'sms',
      journey: i % 10 === 0 ? 'other' : 'promo',
      instanceId: `i-${i}`,
      profileId: `p-${i}`,
      variant: i % 2 ? 'A' : 'B',
      to: ['x@example.com'],
      content: { subject: 'Hi', text: 'Hi' },
      status: failed ? 'failed' : 'sent',
      ...(failed ? { reason: 'provider-rejected' as const } : { sentAt: at }),
      outbox: true,
      provider: 'outbox',
      attempts: 1,
      dueAt: at,
      opens: d % 4 === 0 ? 1 : 0,
      clicks: d % 9 === 0 ? 1 : 0,
      createdAt: at,
      updatedAt: at,
    });
    if (sent.length === batch) await flushDeliveries();
  }
  await flushDeliveries();
  // What the outbox would have counted as these deliveries settled.
  const counts = new Map<string, { d: Delivery; inc: Record<string, number> }>();
  for (let d = 0; d < deliveries; d++) {
    const i = d % instances;
    const journey = i % 10 === 0 ? 'other' : 'promo';
    const [channel, node] = d % 3 ? ['email', 'mail'] : ['sms', 'sms'];
    const key = `${journey}/${node}`;
    const entry = counts.get(key) ?? { d: { journey, channel, node } as Delivery, inc: {} };
    const add = (k: string) => (entry.inc[k] = (entry.inc[k] ?? 0) + 1);
    if (d % 50 === 0) {
      add('failed');
      add('reasons.provider-rejected');
    } else add('sent');
    if (d % 4 === 0) add('opened');
    if (d % 9 === 0) add('clicked');
    counts.set(key, entry);
  }
  for (const { d, inc } of counts.values()) await countDelivery(store, d, inc);
}

async function timed(runs: number, work: () => Promise<unknown>): Promise<{ p50: number; max: number }> {
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    await work();
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), max: ms[ms.length - 1]! };
}

export async function benchReports(options: { store: Store; instances: number; deliveries: number; runs?: number }): Promise<{ fillSeconds: number; arms: ReportArm[] }> {
  const { store, instances, deliveries } = options;
  const runs = options.runs ?? 3;
  const start = performance.now();
  await fill(store, instances, deliveries);
  const fillSeconds = (performance.now() - start) / 1000;
  const arms: ReportArm[] = [
    { arm: 'baseline: count the journey\'s deliveries', ...(await timed(runs, () => store.collection(COLLECTIONS.deliveries).count({ journey: 'promo' }))) },
    { arm: 'journey list', ...(await timed(runs, () => listJourneys(store))) },
    { arm: 'one journey: funnel, channels, branches, timeline', ...(await timed(runs, () => journeyReport(store, 'promo'))) },
  ];
  return { fillSeconds, arms };
}
