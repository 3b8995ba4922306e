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
  /** By the provider's delivery receipts (SMS): reached the handset, or did not. */
  delivered: number;
  undelivered: number;
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
  const [figures, channels] = await Promise.all([
    instanceFigures(store.collection<JourneyInstance>(COLLECTIONS.instances), journey, options.days ?? 30, options.now ?? new Date()),
    channelsOf(store, journey),
  ]);
  return { ...figures, channels };
}

type InstanceFields = Pick<JourneyInstance, 'status' | 'path' | 'variants' | 'enteredAt' | 'endedAt'>;

/**
 * Counts, funnel, branches and timeline in one pass over the journey's instances, read
 * through the journey index with only the fields they need: one read of each instance
 * instead of an aggregation per figure.
 */
async function instanceFigures(instances: Collection<JourneyInstance>, journey: string, days: number, now: Date): Promise<Omit<JourneyReport, 'channels'>> {
  const counts = { ...EMPTY };
  const funnel = new Map<string, FunnelRow>();
  const branches = new Map<string, Map<string, { n: number; converted: number }>>();
  const since = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1));
  const timeline: TimelineRow[] = Array.from({ length: days }, (_, d) => ({ day: new Date(since + d * 86_400_000).toISOString().slice(0, 10), entered: 0, converted: 0 }));
  const dayIndex = (at: Date | undefined) => (at ? Math.floor((new Date(at).getTime() - since) / 86_400_000) : -1);
  const row = (node: string) => {
    let r = funnel.get(node);
    if (!r) {
      r = { node, reached: 0, here: 0, endedHere: { completed: 0, exited: 0, converted: 0 } };
      funnel.set(node, r);
    }
    return r;
  };
  const projection = { status: 1, 'path.node': 1, variants: 1, enteredAt: 1, endedAt: 1 } as const;
  for await (const i of instances.find({ journey }, { projection }) as AsyncIterable<InstanceFields>) {
    counts.entered += 1;
    if (i.status in counts) counts[i.status as keyof typeof EMPTY] += 1;
    const nodes = (i.path ?? []).map((step) => step.node);
    // A node passed twice (a loop) counts once per instance.
    for (const node of new Set(nodes)) row(node).reached += 1;
    const last = nodes[nodes.length - 1];
    if (last !== undefined) {
      if (i.status === 'active' || i.status === 'waiting') row(last).here += 1;
      else row(last).endedHere[i.status] += 1;
    }
    for (const [split, variant] of Object.entries(i.variants ?? {})) {
      const bySplit = branches.get(split) ?? new Map<string, { n: number; converted: number }>();
      const b = bySplit.get(variant) ?? { n: 0, converted: 0 };
      b.n += 1;
      if (i.status === 'converted') b.converted += 1;
      bySplit.set(variant, b);
      branches.set(split, bySplit);
    }
    const entered = dayIndex(i.enteredAt);
    if (entered >= 0 && entered < days) timeline[entered]!.entered += 1;
    if (i.status === 'converted') {
      const converted = dayIndex(i.endedAt);
      if (converted >= 0 && converted < days) timeline[converted]!.converted += 1;
    }
  }
  return {
    journey,
    ...withRate(counts),
    funnel: [...funnel.values()].sort((a, b) => b.reached - a.reached || a.node.localeCompare(b.node)),
    branches: branchRows(branches),
    timeline,
  };
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
      r = { channel, node, sent: 0, failed: 0, skipped: 0, queued: 0, reasons: {}, opened: 0, clicked: 0, delivered: 0, undelivered: 0, conversions: 0 };
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
      delivered: c.delivered ?? 0,
      undelivered: c.undelivered ?? 0,
      conversions: c.conversions ?? 0,
    });
  }
  for (const q of inFlight) row(q._id.channel, q._id.node).queued = q.n;
  return [...out.values()].sort((a, b) => a.channel.localeCompare(b.channel) || a.node.localeCompare(b.node));
}

function branchRows(bySplit: Map<string, Map<string, { n: number; converted: number }>>): BranchRow[] {
  const out: BranchRow[] = [];
  for (const [split, byVariant] of [...bySplit].sort(([a], [b]) => a.localeCompare(b))) {
    const variants = [...byVariant].map(([variant, v]) => ({ variant, ...v }));
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
