/**
 * Journey reports, computed from the store by indexed aggregations: what each journey's
 * instances did (entered, live, ended how), how far they got node by node, what each
 * channel delivered, how each split branch converted against its control, and a daily
 * timeline. Everything comes from the stored instances and deliveries, so the figures are
 * the same in every process and after a restart.
 */
import type { Delivery } from '../channels/delivery.js';
import type { JourneyInstance } from '../journeys/instance.js';
import type { Collection, Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { deliveryCounters } from './delivery-counters.js';
import { compareProportions, wilsonInterval, type Interval } from './stats.js';

export interface StatusCounts {
  entered: number;
  active: number;
  waiting: number;
  completed: number;
  exited: number;
  converted: number;
  /** converted / entered, 0 when nobody entered. */
  conversionRate: number;
}

export interface JourneySummary extends StatusCounts {
  journey: string;
}

export interface FunnelRow {
  node: string;
  /** Instances whose path passed the node. */
  reached: number;
  /** Of those, how many are still live with the node as their last step (waiting there, say). */
  here: number;
  /** Ended with the node as their last step: where they left the journey. */
  endedHere: { completed: number; exited: number; converted: number };
}

export interface ChannelRow {
  channel: string;
  node: string;
  sent: number;
  failed: number;
  skipped: number;
  queued: number;
  /** Skips and failures by reason. */
  reasons: Record<string, number>;
  opened: number;
  clicked: number;
  /** Conversions credited to this node's deliveries (a goal within the attribution window). */
  conversions: number;
}

export interface BranchRow {
  split: string;
  variant: string;
  instances: number;
  converted: number;
  rate: number;
  /** 95 % Wilson interval of the rate. */
  interval: Interval;
  /** Against the control (the holdout, else the first branch): two-proportion z-test. */
  vsControl: { control: string; difference: number; z: number; pValue: number; significant: boolean } | null;
}

export interface TimelineRow {
  day: string;
  entered: number;
  converted: number;
}

export interface JourneyReport extends JourneySummary {
  funnel: FunnelRow[];
  channels: ChannelRow[];
  branches: BranchRow[];
  timeline: TimelineRow[];
}

const EMPTY: Omit<StatusCounts, 'conversionRate'> = { entered: 0, active: 0, waiting: 0, completed: 0, exited: 0, converted: 0 };

function withRate(counts: Omit<StatusCounts, 'conversionRate'>): StatusCounts {
  return { ...counts, conversionRate: counts.entered > 0 ? counts.converted / counts.entered : 0 };
}

/** Every journey with at least one instance, and its counts by status. */
export async function listJourneys(store: Store): Promise<JourneySummary[]> {
  const rows = await store
    .collection<JourneyInstance>(COLLECTIONS.instances)
    .aggregate<{ _id: { journey: string; status: string }; n: number }>([{ $group: { _id: { journey: '$journey', status: '$status' }, n: { $sum: 1 } } }]);
  const byJourney = new Map<string, Omit<StatusCounts, 'conversionRate'>>();
  for (const row of rows) {
    const counts = byJourney.get(row._id.journey) ?? { ...EMPTY };
    counts.entered += row.n;
    if (row._id.status in counts) counts[row._id.status as keyof typeof EMPTY] += row.n;
    byJourney.set(row._id.journey, counts);
  }
  return [...byJourney]
    .map(([journey, counts]) => ({ journey, ...withRate(counts) }))
    .sort((a, b) => a.journey.localeCompare(b.journey));
}

export async function journeyReport(store: Store, journey: string, options: { days?: number; now?: Date } = {}): Promise<JourneyReport> {
  const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
  const [summary] = (await listJourneysMatching(store, journey)) ?? [];
  const [funnel, channels, branches, timeline] = await Promise.all([
    funnelOf(instances, journey),
    channelsOf(store, journey),
    branchesOf(instances, journey),
    timelineOf(instances, journey, options.days ?? 30, options.now ?? new Date()),
  ]);
  return { ...(summary ?? { journey, ...withRate({ ...EMPTY }) }), funnel, channels, branches, timeline };
}

async function listJourneysMatching(store: Store, journey: string): Promise<JourneySummary[]> {
  const rows = await store
    .collection<JourneyInstance>(COLLECTIONS.instances)
    .aggregate<{ _id: string; n: number }>([{ $match: { journey } }, { $group: { _id: '$status', n: { $sum: 1 } } }]);
  if (rows.length === 0) return [];
  const counts = { ...EMPTY };
  for (const row of rows) {
    counts.entered += row.n;
    if (row._id in counts) counts[row._id as keyof typeof EMPTY] += row.n;
  }
  return [{ journey, ...withRate(counts) }];
}

type Instances = Collection<JourneyInstance>;

async function funnelOf(instances: Instances, journey: string): Promise<FunnelRow[]> {
  // A node passed twice (a loop) counts once per instance.
  const reached = await instances.aggregate<{ _id: string; n: number }>([
    { $match: { journey } },
    { $project: { nodes: { $setUnion: ['$path.node', []] } } },
    { $unwind: '$nodes' },
    { $group: { _id: '$nodes', n: { $sum: 1 } } },
  ]);
  const last = await instances.aggregate<{ _id: { node: string; status: string }; n: number }>([
    { $match: { journey } },
    { $project: { status: 1, lastNode: { $arrayElemAt: ['$path.node', -1] } } },
    { $group: { _id: { node: '$lastNode', status: '$status' }, n: { $sum: 1 } } },
  ]);
  const rows = new Map<string, FunnelRow>();
  const row = (node: string) => {
    let r = rows.get(node);
    if (!r) {
      r = { node, reached: 0, here: 0, endedHere: { completed: 0, exited: 0, converted: 0 } };
      rows.set(node, r);
    }
    return r;
  };
  for (const r of reached) row(r._id).reached = r.n;
  for (const l of last) {
    if (typeof l._id.node !== 'string') continue;
    const r = row(l._id.node);
    if (l._id.status === 'active' || l._id.status === 'waiting') r.here += l.n;
    else if (l._id.status === 'completed' || l._id.status === 'exited' || l._id.status === 'converted') r.endedHere[l._id.status] += l.n;
  }
  return [...rows.values()].sort((a, b) => b.reached - a.reached || a.node.localeCompare(b.node));
}

async function channelsOf(store: Store, journey: string): Promise<ChannelRow[]> {
  // Final states come from the counters; what is still in flight is counted per send node by the node's index (few, if any).
  const counters = await deliveryCounters(store, journey);
  const deliveries = store.collection<Delivery>(COLLECTIONS.deliveries);
  const inFlight = await Promise.all(
    counters.map(async (c) => ({ _id: { channel: c.channel, node: c.node }, n: await deliveries.count({ node: c.node, status: { $in: ['queued', 'sending'] }, journey }) })),
  );
  const out = new Map<string, ChannelRow>();
  const row = (channel: string, node: string) => {
    const key = `${channel}:${node}`;
    let r = out.get(key);
    if (!r) {
      r = { channel, node, sent: 0, failed: 0, skipped: 0, queued: 0, reasons: {}, opened: 0, clicked: 0, conversions: 0 };
      out.set(key, r);
    }
    return r;
  };
  for (const c of counters) {
    Object.assign(row(c.channel, c.node), {
      sent: c.sent ?? 0,
      failed: c.failed ?? 0,
      skipped: c.skipped ?? 0,
      reasons: c.reasons ?? {},
      opened: c.opened ?? 0,
      clicked: c.clicked ?? 0,
      conversions: c.conversions ?? 0,
    });
  }
  for (const q of inFlight) row(q._id.channel, q._id.node).queued = q.n;
  return [...out.values()].sort((a, b) => a.channel.localeCompare(b.channel) || a.node.localeCompare(b.node));
}

async function branchesOf(instances: Instances, journey: string): Promise<BranchRow[]> {
  const rows = await instances.aggregate<{ _id: { split: string; variant: string }; n: number; converted: number }>([
    { $match: { journey } },
    { $project: { status: 1, variants: { $objectToArray: { $ifNull: ['$variants', {}] } } } },
    { $unwind: '$variants' },
    {
      $group: {
        _id: { split: '$variants.k', variant: '$variants.v' },
        n: { $sum: 1 },
        converted: { $sum: { $cond: [{ $eq: ['$status', 'converted'] }, 1, 0] } },
      },
    },
  ]);
  const bySplit = new Map<string, Array<{ variant: string; n: number; converted: number }>>();
  for (const r of rows) bySplit.set(r._id.split, [...(bySplit.get(r._id.split) ?? []), { variant: r._id.variant, n: r.n, converted: r.converted }]);
  const out: BranchRow[] = [];
  for (const [split, variants] of [...bySplit].sort(([a], [b]) => a.localeCompare(b))) {
    variants.sort((a, b) => (a.variant === 'holdout' ? 1 : b.variant === 'holdout' ? -1 : a.variant.localeCompare(b.variant)));
    const control = variants.find((v) => v.variant === 'holdout') ?? variants[0]!;
    for (const v of variants) {
      const test = v === control ? null : compareProportions(v.converted, v.n, control.converted, control.n);
      out.push({
        split,
        variant: v.variant,
        instances: v.n,
        converted: v.converted,
        rate: v.n > 0 ? v.converted / v.n : 0,
        interval: wilsonInterval(v.converted, v.n),
        vsControl: test ? { control: control.variant, ...test } : null,
      });
    }
  }
  return out;
}

async function timelineOf(instances: Instances, journey: string, days: number, now: Date): Promise<TimelineRow[]> {
  const since = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)));
  const dayOf = (field: string) => ({ $dateToString: { format: '%Y-%m-%d', date: field } });
  const [entered, converted] = await Promise.all([
    instances.aggregate<{ _id: string; n: number }>([
      { $match: { journey, enteredAt: { $gte: since } } },
      { $group: { _id: dayOf('$enteredAt'), n: { $sum: 1 } } },
    ]),
    instances.aggregate<{ _id: string; n: number }>([
      { $match: { journey, status: 'converted', endedAt: { $gte: since } } },
      { $group: { _id: dayOf('$endedAt'), n: { $sum: 1 } } },
    ]),
  ]);
  const rows: TimelineRow[] = [];
  for (let d = 0; d < days; d++) {
    const day = new Date(since.getTime() + d * 86_400_000).toISOString().slice(0, 10);
    rows.push({ day, entered: entered.find((e) => e._id === day)?.n ?? 0, converted: converted.find((c) => c._id === day)?.n ?? 0 });
  }
  return rows;
}
