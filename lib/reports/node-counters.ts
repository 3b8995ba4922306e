/**
 * Per-node counters (what a node's status badge shows: sent, skipped, failed…), kept in
 * the store so a badge shows the same after a restart and in every process. Increments are
 * batched by the caller; one document per node, found by _id.
 */
import type { Doc, Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';

interface CounterDoc extends Doc {
  counts: Record<string, number>;
  updatedAt: Date;
}

export async function nodeCounts(store: Store, node: string): Promise<Record<string, number>> {
  return (await store.collection<CounterDoc>(COLLECTIONS.nodeCounters).findOne({ _id: node }))?.counts ?? {};
}

/** Adds `delta` and returns the totals after it, including what other processes added. */
export async function addNodeCounts(store: Store, node: string, delta: Record<string, number>, now = new Date()): Promise<Record<string, number>> {
  const inc = Object.fromEntries(Object.entries(delta).filter(([, n]) => n !== 0).map(([k, n]) => [`counts.${k}`, n]));
  if (Object.keys(inc).length === 0) return nodeCounts(store, node);
  const after = await store
    .collection<CounterDoc>(COLLECTIONS.nodeCounters)
    .findOneAndUpdate({ _id: node }, { $inc: inc, $set: { updatedAt: now } }, { upsert: true, returnDocument: 'after' });
  return after?.counts ?? {};
}
