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
import { SharedTrips } from '../store/shared-trips.js';

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

/** Adds `inc` to the counter of the delivery's journey and node; counts made together are written together. */
export async function countDelivery(store: Store, d: Counted, inc: Record<string, number>): Promise<void> {
  if (!d.journey || Object.keys(inc).length === 0) return;
  await incrementsOf(store).submit({ id: counterId({ ...d, journey: d.journey }), counted: { journey: d.journey, channel: d.channel, node: d.node }, inc });
}

interface Increment {
  id: string;
  counted: { journey: string; channel: string; node: string };
  inc: Record<string, number>;
}

/** Per store, the counts made together (see SharedTrips). */
const increments = new WeakMap<Store, SharedTrips<Increment, void>>();

function incrementsOf(store: Store): SharedTrips<Increment, void> {
  let trips = increments.get(store);
  if (!trips) increments.set(store, (trips = new SharedTrips((batch) => addUp(store, batch), { maxWeight: 1_000, maxInFlight: 2 })));
  return trips;
}

/**
 * Writes a batch of counts as one upsert per counter, its increments summed: every send of a
 * node counts on the same document, and on MongoDB each count was a command of its own, the
 * largest share of a sent email's commands. A failed write fails the counts it carried.
 */
async function addUp(store: Store, batch: Increment[]): Promise<Array<PromiseSettledResult<void>>> {
  const sums = new Map<string, Increment>();
  for (const one of batch) {
    const sum = sums.get(one.id);
    if (!sum) sums.set(one.id, { ...one, inc: { ...one.inc } });
    else for (const [field, n] of Object.entries(one.inc)) sum.inc[field] = (sum.inc[field] ?? 0) + n;
  }
  const counters = store.collection<DeliveryCounterDoc>(COLLECTIONS.deliveryCounters);
  const written = new Map<string, PromiseSettledResult<void>>();
  await Promise.all(
    [...sums.values()].map(async ({ id, counted, inc }) => {
      try {
        await counters.updateOne({ _id: id }, { $inc: inc, $setOnInsert: counted }, { upsert: true });
        written.set(id, { status: 'fulfilled', value: undefined });
      } catch (reason) {
        written.set(id, { status: 'rejected', reason });
      }
    }),
  );
  return batch.map((one) => written.get(one.id)!);
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
