/**
 * Moving instances along and ending them: path steps, split variants, and the
 * end states (completed, exited, converted). Ending also frees the entry gate, so the
 * one-at-a-time policy lets the profile in again.
 */
import type { Filter, Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { gateId } from './enrol.js';
import { LIVE_STATUSES, type EndStatus, type EntryGate, type JourneyInstance, type LiveStatus } from './instance.js';

const liveFilter = { status: { $in: [...LIVE_STATUSES] } };

/** Why an instance completed when its msg ran out of flow. */
export const COMPLETED_REASON = 'reached the end of the flow';

export async function recordStep(store: Store, instanceId: string, node: string, at: Date, variant?: string): Promise<JourneyInstance | null> {
  return store.collection<JourneyInstance>(COLLECTIONS.instances).findOneAndUpdate(
    { _id: instanceId, ...liveFilter },
    {
      $push: { path: { node, at } },
      $set: { updatedAt: at, ...(variant !== undefined ? { [`variants.${node}`]: variant } : {}) },
    },
    { returnDocument: 'after' },
  );
}

/**
 * Ends one live instance (only from the statuses in `from`); returns it as ended, or null
 * when it had already ended or was not in one of those statuses.
 */
export async function endInstance(
  store: Store,
  instanceId: string,
  status: EndStatus,
  reason: string,
  at: Date,
  from: readonly LiveStatus[] = LIVE_STATUSES,
): Promise<JourneyInstance | null> {
  const ended = await store
    .collection<JourneyInstance>(COLLECTIONS.instances)
    .findOneAndUpdate(
      { _id: instanceId, status: { $in: [...from] } },
      { $set: { status, endReason: reason, endedAt: at, updatedAt: at }, $unset: { snapshot: '' } },
      { returnDocument: 'after' },
    );
  if (ended) {
    await store
      .collection<EntryGate>(COLLECTIONS.entryGates)
      .updateOne({ _id: gateId(ended.journey, ended.profileId), liveInstance: ended._id }, { $set: { liveInstance: null } });
  }
  return ended;
}

/**
 * Completes an instance whose msg has left the flow. Only an active one: a waiting instance
 * has been parked by a wait node (its msg is done there, its journey is not).
 */
export function completeInstance(store: Store, instanceId: string, at: Date): Promise<JourneyInstance | null> {
  return endInstance(store, instanceId, 'completed', COMPLETED_REASON, at, ['active']);
}

/** Ends every live instance matching `filter`; returns the ones this call ended. */
export async function endMatching(store: Store, filter: Filter, status: EndStatus, reason: string, at: Date): Promise<JourneyInstance[]> {
  const live: string[] = [];
  for await (const doc of store.collection<JourneyInstance>(COLLECTIONS.instances).find({ ...liveFilter, ...filter }, { projection: { _id: 1 } })) {
    live.push(doc._id);
  }
  const ended: JourneyInstance[] = [];
  for (const id of live) {
    const doc = await endInstance(store, id, status, reason, at);
    if (doc) ended.push(doc);
  }
  return ended;
}

/**
 * Ends the profile's live instances of a journey (all journeys when omitted), as on an
 * exit or goal event. Returns the instances this call ended, so their timers can be cancelled.
 */
export function endLiveInstances(
  store: Store,
  where: { profileId: string; journey?: string },
  status: EndStatus,
  reason: string,
  at: Date,
): Promise<JourneyInstance[]> {
  return endMatching(store, { profileId: where.profileId, ...(where.journey ? { journey: where.journey } : {}) }, status, reason, at);
}

/**
 * After a profile merge: the loser's live instances move to the winner, except where the
 * winner is already live in the same journey; those end as exited, so nobody runs a journey twice.
 */
export async function moveInstancesOnMerge(store: Store, loser: string, winner: string, at: Date): Promise<{ moved: string[]; ended: string[] }> {
  const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
  const gates = store.collection<EntryGate>(COLLECTIONS.entryGates);
  const moved: string[] = [];
  const ended: string[] = [];
  const losing: JourneyInstance[] = [];
  for await (const doc of instances.find({ profileId: loser, ...liveFilter })) losing.push(doc);
  for (const instance of losing) {
    const clash = await instances.findOne({ profileId: winner, journey: instance.journey, ...liveFilter });
    if (clash) {
      if (await endInstance(store, instance._id, 'exited', `profile merged into ${winner}, already in this journey`, at)) ended.push(instance._id);
      continue;
    }
    const r = await instances.updateOne({ _id: instance._id, ...liveFilter }, { $set: { profileId: winner, updatedAt: at } });
    if (r.modified === 1) {
      moved.push(instance._id);
      await gates.updateOne(
        { _id: gateId(instance.journey, winner) },
        {
          $setOnInsert: { journey: instance.journey, profileId: winner, entries: 1, lastEnteredAt: instance.enteredAt },
          $set: { liveInstance: instance._id },
        },
        { upsert: true },
      );
    }
  }
  return { moved, ended };
}
