/**
 * Conversion attribution: when a goal converts a journey instance, every message sent to
 * it within the attribution window is credited (multi-touch), so reports can show which
 * sends, nodes and variants converted.
 */
import type { Delivery } from '../channels/delivery.js';
import type { Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';

export async function creditDeliveries(store: Store, instanceIds: string[], windowMs: number, at: Date): Promise<number> {
  if (instanceIds.length === 0) return 0;
  const credited = await store.collection<Delivery>(COLLECTIONS.deliveries).updateMany(
    { instanceId: { $in: instanceIds }, status: 'sent', sentAt: { $gte: new Date(at.getTime() - windowMs) }, convertedAt: { $exists: false } },
    { $set: { convertedAt: at } },
  );
  return credited.modified;
}
