/**
 * Enrolment under a re-entry policy. The decision is made on the journey+profile entry
 * gate with one conditional write, so two events racing for the same person cannot both
 * enter where the policy allows one. A gate whose instance has ended, or was never written
 * (a crash between the two writes, noticed after a grace period), is taken over rather
 * than blocking for ever.
 */
import { createHash, randomUUID } from 'node:crypto';
import { DuplicateKeyError, type Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { isLive, type EntryGate, type JourneyInstance } from './instance.js';
import type { ResumePoint } from './resume-points.js';

export type ReentryPolicy =
  | { mode: 'always' }
  | { mode: 'once' }
  | { mode: 'oncePer'; periodMs: number }
  | { mode: 'oneActive' };

export type Enrolment =
  /** `again`: the instance named by the request's `instanceId` already existed (a retry). */
  | { status: 'entered'; instance: JourneyInstance; again?: true }
  | { status: 'refused'; code: 'NOT_REENTRANT'; reason: string };

export const gateId = (journey: string, profileId: string): string => `${journey}|${profileId}`;

/**
 * An instance id derived from what is being done (an audience run and a profile, a journey
 * and an event's messageId), UUID-shaped: a repeat after a crash names the same instance.
 */
export function derivedInstanceId(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('|')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export async function enrol(
  store: Store,
  request: {
    journey: string;
    profileId: string;
    policy: ReentryPolicy;
    at: Date;
    entryNode?: string;
    /**
     * A caller that may repeat an enrolment after a crash (an audience run resumed from its
     * checkpoint) names the instance itself, derived from what it is doing, so the repeat
     * finds its own gate claim and instance instead of entering the profile twice.
     */
    instanceId?: string;
    /** Where the entering msg leaves: written with the instance, so no live instance is ever without one. */
    resume?: ResumePoint;
  },
): Promise<Enrolment> {
  const { journey, profileId, policy, at } = request;
  const instanceId = request.instanceId ?? randomUUID();
  const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
  const refusal = await claimGate(store, journey, profileId, policy, at, instanceId);
  if (refusal) return { status: 'refused', code: 'NOT_REENTRANT', reason: refusal };
  const instance = newInstance(journey, profileId, instanceId, at, request.entryNode, request.resume);
  try {
    await instances.insertOne(instance);
  } catch (err) {
    const existing = err instanceof DuplicateKeyError ? await instances.findOne({ _id: instanceId }) : null;
    if (existing) return { status: 'entered', instance: existing, again: true };
    throw err;
  }
  return { status: 'entered', instance };
}

const newInstance = (journey: string, profileId: string, instanceId: string, at: Date, entryNode?: string, resume?: ResumePoint): JourneyInstance => ({
  _id: instanceId,
  journey,
  profileId,
  status: 'active',
  path: entryNode ? [{ node: entryNode, at }] : [],
  variants: {},
  enteredAt: at,
  updatedAt: at,
  ...(resume ? { resume } : {}),
});

/**
 * Enrols a batch of profiles, each under its own instance id, with the outcome `enrol`
 * would give each. For an audience run: the common case, a profile that has never entered
 * the journey, costs a share of three round trips for the whole batch (read the gates,
 * insert the new ones, insert the instances); any other goes through `enrol` on its own.
 */
export async function enrolMany(
  store: Store,
  common: { journey: string; policy: ReentryPolicy; at: Date; entryNode?: string },
  entries: Array<{ profileId: string; instanceId: string }>,
): Promise<Enrolment[]> {
  const { journey, at } = common;
  const gates = store.collection<EntryGate>(COLLECTIONS.entryGates);
  const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
  const ids = entries.map((e) => gateId(journey, e.profileId));
  const known = new Map<string, EntryGate>();
  for await (const gate of gates.find({ _id: { $in: ids } })) known.set(gate._id, gate);
  const fresh = entries.flatMap((_, i) => (known.has(ids[i]!) ? [] : [i]));
  const raced = new Set(
    (
      await gates.insertMany(
        fresh.map((i) => ({ _id: ids[i]!, journey, profileId: entries[i]!.profileId, entries: 1, lastEnteredAt: at, liveInstance: entries[i]!.instanceId })),
      )
    ).duplicates,
  );
  const claimed = fresh.filter((i) => !raced.has(ids[i]!));
  const made = claimed.map((i) => newInstance(journey, entries[i]!.profileId, entries[i]!.instanceId, at, common.entryNode));
  const { duplicates } = await instances.insertMany(made);
  const existing = new Map<string, JourneyInstance>();
  if (duplicates.length > 0) for await (const doc of instances.find({ _id: { $in: duplicates } })) existing.set(doc._id, doc);

  const results: Array<Enrolment | undefined> = new Array<Enrolment | undefined>(entries.length);
  if (common.policy.mode === 'once') {
    // Decided by the gate alone: entered before, by another instance, means refused.
    entries.forEach((entry, i) => {
      const gate = known.get(ids[i]!);
      if (gate && gate.liveInstance !== entry.instanceId) results[i] = { status: 'refused', code: 'NOT_REENTRANT', reason: onceRefusal(journey) };
    });
  }
  claimed.forEach((i, k) => {
    const again = existing.get(made[k]!._id);
    results[i] = again ? { status: 'entered', instance: again, again: true } : { status: 'entered', instance: made[k]! };
  });
  await Promise.all(
    entries.map(async (entry, i) => {
      results[i] ??= await enrol(store, { ...common, ...entry });
    }),
  );
  return results as Enrolment[];
}

const onceRefusal = (journey: string): string => `already entered journey ${journey} (re-entry: once)`;

/** Claims the gate for a new instance; returns why entry is refused, or null when it is allowed. */
async function claimGate(
  store: Store,
  journey: string,
  profileId: string,
  policy: ReentryPolicy,
  at: Date,
  instanceId: string,
): Promise<string | null> {
  const gates = store.collection<EntryGate>(COLLECTIONS.entryGates);
  const _id = gateId(journey, profileId);
  const entered = { $set: { lastEnteredAt: at, liveInstance: instanceId }, $inc: { entries: 1 } };
  for (let attempt = 0; attempt < 3; attempt++) {
    const gate = await gates.findOne({ _id });
    if (gate?.liveInstance === instanceId) return null; // claimed by this same enrolment before a crash
    if (!gate) {
      try {
        await gates.insertOne({ _id, journey, profileId, entries: 1, lastEnteredAt: at, liveInstance: instanceId });
        return null;
      } catch (err) {
        if (err instanceof DuplicateKeyError) continue; // another event created it: decide on it
        throw err;
      }
    }
    switch (policy.mode) {
      case 'always':
        await gates.updateOne({ _id }, entered);
        return null;
      case 'once':
        return onceRefusal(journey);
      case 'oncePer': {
        const since = new Date(at.getTime() - policy.periodMs);
        const r = await gates.updateOne({ _id, lastEnteredAt: { $lte: since } }, entered);
        if (r.modified === 1) return null;
        return `entered journey ${journey} less than ${Math.round(policy.periodMs / 1000)} s ago (re-entry: once per period)`;
      }
      case 'oneActive': {
        const holder = gate.liveInstance;
        if (holder && (await holds(store, holder, gate, at))) return `already active in journey ${journey} (re-entry: one at a time)`;
        const r = await gates.updateOne({ _id, liveInstance: holder }, entered);
        if (r.modified === 1) return null;
        continue; // someone else took it meanwhile
      }
    }
  }
  return `journey ${journey} is being entered concurrently for this profile`;
}

/** How long a gate may name an instance not yet written before it counts as a crash leftover. */
const UNWRITTEN_GRACE_MS = 30_000;

/**
 * Whether the gate's instance still holds it: live, or claimed so recently that its
 * enrolment may still be writing it.
 */
async function holds(store: Store, instanceId: string, gate: EntryGate, at: Date): Promise<boolean> {
  const instance = await store.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: instanceId });
  if (instance) return isLive(instance.status);
  return at.getTime() - gate.lastEnteredAt.getTime() < UNWRITTEN_GRACE_MS;
}
