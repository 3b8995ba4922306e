/**
 * Enrolment under a re-entry policy. The decision is made on the journey+profile entry
 * gate with one conditional write, so two events racing for the same person cannot both
 * enter where the policy allows one. A gate whose instance has ended, or was never written
 * (a crash between the two writes, noticed after a grace period), is taken over rather
 * than blocking for ever.
 */
import { randomUUID } from 'node:crypto';
import { DuplicateKeyError, type Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { isLive, type EntryGate, type JourneyInstance } from './instance.js';

export type ReentryPolicy =
  | { mode: 'always' }
  | { mode: 'once' }
  | { mode: 'oncePer'; periodMs: number }
  | { mode: 'oneActive' };

export type Enrolment =
  | { status: 'entered'; instance: JourneyInstance }
  | { status: 'refused'; code: 'NOT_REENTRANT'; reason: string };

export const gateId = (journey: string, profileId: string): string => `${journey}|${profileId}`;

export async function enrol(
  store: Store,
  request: { journey: string; profileId: string; policy: ReentryPolicy; at: Date; entryNode?: string },
): Promise<Enrolment> {
  const { journey, profileId, policy, at } = request;
  const instanceId = randomUUID();
  const refusal = await claimGate(store, journey, profileId, policy, at, instanceId);
  if (refusal) return { status: 'refused', code: 'NOT_REENTRANT', reason: refusal };
  const instance: JourneyInstance = {
    _id: instanceId,
    journey,
    profileId,
    status: 'active',
    path: request.entryNode ? [{ node: request.entryNode, at }] : [],
    variants: {},
    enteredAt: at,
    updatedAt: at,
  };
  await store.collection<JourneyInstance>(COLLECTIONS.instances).insertOne(instance);
  return { status: 'entered', instance };
}

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
        return `already entered journey ${journey} (re-entry: once)`;
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
