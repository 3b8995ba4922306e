/**
 * Moving instances along and ending them: path steps, split variants, and the
 * end states (completed, exited, converted). Ending also frees the entry gate, so the
 * one-at-a-time policy lets the profile in again.
 */
import type { Filter, Store, Update } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { gateId } from './enrol.js';
import { isLive, LIVE_STATUSES, type EndStatus, type EntryGate, type JourneyInstance, type LiveStatus } from './instance.js';
import { carriedBy } from './resume-points.js';
import { HOLDOUT_VARIANT } from './split.js';

const liveFilter = { status: { $in: [...LIVE_STATUSES] } };

/** Why an instance completed when its msg ran out of flow. */
export const COMPLETED_REASON = 'reached the end of the flow';

/** Why a split's holdout took an instance out of its journey. */
export const HOLDOUT_REASON = 'holdout (control group)';

/**
 * Records that the instance's msg passed `node` (with the split variant it was given); false
 * when the instance is no longer live. The write is shared with other instances' steps.
 */
export async function recordStep(store: Store, instanceId: string, node: string, at: Date, variant?: string): Promise<boolean> {
  const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
  const outcome = await instances.updateById(
    instanceId,
    {
      $push: { path: { node, at } },
      $set: { updatedAt: at, ...(variant !== undefined ? { [`variants.${node}`]: variant } : {}) },
    },
    liveFilter,
  );
  if (outcome !== 'unknown') return outcome === 'matched';
  // Its batch partly missed. An ended instance never lives again, so one live now was live when the step was written.
  const now = await instances.findOne({ _id: instanceId });
  return now !== null && isLive(now.status);
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
    .findOneAndUpdate({ _id: instanceId, status: { $in: [...from] } }, ending(status, reason, at), { returnDocument: 'after' });
  if (ended) await releaseGate(store, ended);
  return ended;
}

/** The write that ends an instance: its end state, and nothing left that only a live one needs. */
const ending = (status: EndStatus, reason: string, at: Date): Update => ({
  $set: { status, endReason: reason, endedAt: at, updatedAt: at },
  $unset: { snapshot: '', waitUntil: '', timerPending: '', resume: '' },
});

/** Frees the entry gate an ended instance held, so the one-at-a-time policy lets the profile in again. */
async function releaseGate(store: Store, ended: JourneyInstance): Promise<void> {
  // Shared with other releases; whether it matched does not matter: a gate naming another instance, or none, is left as it is.
  await store.collection<EntryGate>(COLLECTIONS.entryGates).updateById(gateId(ended.journey, ended.profileId), { $set: { liveInstance: null } }, { liveInstance: ended._id });
}

/**
 * A split held the instance's profile out as its control group: the step, the `holdout`
 * variant and the exit are one write, so no instance is ever left half held out. Returns the
 * instance as ended, or null when it was no longer live.
 */
export async function holdOut(store: Store, instanceId: string, node: string, at: Date): Promise<JourneyInstance | null> {
  const held = await store.collection<JourneyInstance>(COLLECTIONS.instances).findOneAndUpdate(
    { _id: instanceId, ...liveFilter },
    {
      $push: { path: { node, at } },
      $set: {
        status: 'exited',
        endReason: HOLDOUT_REASON,
        endedAt: at,
        updatedAt: at,
        heldOutAt: node,
        [`variants.${node}`]: HOLDOUT_VARIANT,
      },
      $unset: { snapshot: '', resume: '' },
    },
    { returnDocument: 'after' },
  );
  if (held) await releaseGate(store, held);
  return held;
}

/**
 * A goal reached by a held-out profile: its held-out instances of the journey become
 * *converted*, so the control group's conversions can be set against the branches'. `endedAt`
 * stays when it left the journey; `updatedAt` says when it converted. Each converts once.
 */
export async function convertHeldOut(
  store: Store,
  where: { profileId: string; journey: string },
  reason: string,
  at: Date,
): Promise<JourneyInstance[]> {
  const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
  const held: string[] = [];
  for await (const doc of instances.find(
    { profileId: where.profileId, status: 'exited', journey: where.journey, heldOutAt: { $exists: true } },
    { projection: { _id: 1 } },
  )) {
    held.push(doc._id);
  }
  const converted: JourneyInstance[] = [];
  for (const id of held) {
    const doc = await instances.findOneAndUpdate(
      { _id: id, status: 'exited' },
      { $set: { status: 'converted', endReason: reason, updatedAt: at } },
      { returnDocument: 'after' },
    );
    if (doc) converted.push(doc);
  }
  return converted;
}

/**
 * Completes the instances whose msgs have left the flow; returns the ids it completed. Only
 * active ones: a waiting instance has been parked by a wait node (its msg is done there, its
 * journey is not). With `carrier`, only those that process carries: one that finds on waking
 * that another took its msgs over must not end what the other is carrying on.
 */
export async function completeInstances(store: Store, instanceIds: string[], at: Date, carrier?: string): Promise<string[]> {
  const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
  // Each instance's writes are made side by side with the others', so the MongoDB adapter shares
  // them: a batch costs one bulk update, one lookup and one bulk gate release, not two round trips per instance.
  const ended = await Promise.all(
    instanceIds.map(async (id) => {
      const outcome = await instances.updateById(id, ending('completed', COMPLETED_REASON, at), { status: 'active', ...(carrier ? carriedBy(carrier) : {}) });
      if (outcome === 'missed') return null;
      // Read back for the gate; when its batch partly missed, the end this write set tells whether it applied.
      const doc = await instances.findOne({ _id: id });
      if (!doc || doc.status !== 'completed' || (outcome === 'unknown' && doc.endedAt?.getTime() !== at.getTime())) return null;
      await releaseGate(store, doc);
      return id;
    }),
  );
  return ended.filter((id): id is string => id !== null);
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
