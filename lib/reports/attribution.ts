/**
 * Conversion attribution: when a goal converts a journey instance, every message sent to
 * it within the attribution window is credited (multi-touch), so reports can show which
 * sends, nodes and variants converted.
 */
import type { Delivery } from '../channels/delivery.js';
import type { Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { countDelivery } from './delivery-counters.js';

export async function creditDeliveries(store: Store, instanceIds: string[], windowMs: number, at: Date): Promise<number> {
  if (instanceIds.length === 0) return 0;
  const deliveries = store.collection<Delivery>(COLLECTIONS.deliveries);
  const due: Delivery[] = [];
  for await (const d of deliveries.find({ instanceId: { $in: instanceIds }, status: 'sent', sentAt: { $gte: new Date(at.getTime() - windowMs) }, convertedAt: { $exists: false } })) {
    due.push(d);
  }
  let credited = 0;
  for (const d of due) {
    // Conditional: a goal applied twice (two processes, a retried event) credits once.
    const won = await deliveries.findOneAndUpdate({ _id: d._id, convertedAt: { $exists: false } }, { $set: { convertedAt: at } });
    if (!won) continue;
    credited += 1;
    await countDelivery(store, d, { conversions: 1 });
  }
  return credited;
}
