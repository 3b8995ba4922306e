/**
 * Per journey and send node, the counts a report shows of its deliveries (sent, skipped and
 * failed by reason, opened, clicked, delivered or not by the provider's receipt, credited
 * conversions), kept up to date as deliveries
 * reach a final state, so a report reads a few small documents instead of every delivery.
 * Deliveries outside a journey are not counted (reports are per journey).
 */
import type { Delivery } from '../channels/delivery.js';
import type { Doc, Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';

export interface DeliveryCounterDoc extends Doc {
  journey: string;
  channel: string;
  node: string;
  sent?: number;
  skipped?: number;
  failed?: number;
  opened?: number;
  clicked?: number;
  /** Sent messages the provider's receipt says reached the handset, and those it says did not. */
  delivered?: number;
  undelivered?: number;
  conversions?: number;
  /** Skips and failures by reason. */
  reasons?: Record<string, number>;
}

type Counted = Pick<Delivery, 'journey' | 'channel' | 'node'>;

const counterId = (d: Counted & { journey: string }) => `${d.journey}\u0000${d.channel}\u0000${d.node}`;

export async function countDelivery(store: Store, d: Counted, inc: Record<string, number>): Promise<void> {
  if (!d.journey || Object.keys(inc).length === 0) return;
  await store.collection<DeliveryCounterDoc>(COLLECTIONS.deliveryCounters).updateOne(
    { _id: counterId({ ...d, journey: d.journey }) },
    { $inc: inc, $setOnInsert: { journey: d.journey, channel: d.channel, node: d.node } },
    { upsert: true },
  );
}

/** What a delivery that just reached a final state adds. */
export function finalCounts(d: Pick<Delivery, 'status' | 'reason'>): Record<string, number> {
  if (d.status === 'sent') return { sent: 1 };
  if (d.status === 'failed' || d.status === 'skipped') return { [d.status]: 1, ...(d.reason ? { [`reasons.${d.reason}`]: 1 } : {}) };
  return {};
}

export async function deliveryCounters(store: Store, journey: string): Promise<DeliveryCounterDoc[]> {
  const out: DeliveryCounterDoc[] = [];
  for await (const doc of store.collection<DeliveryCounterDoc>(COLLECTIONS.deliveryCounters).find({ journey })) out.push(doc);
  return out;
}
