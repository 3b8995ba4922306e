/**
 * Durable resume points. A journey instance's msg travelling between nodes lives only in
 * its process's memory; when a journey node emits it, the instance records where it left
 * (node, output, a snapshot of the msg) and which process carries it. Each process
 * heartbeats; a process that stopped heartbeating is dead, and another claims its active
 * instances one conditional write at a time and sends each msg again from its point.
 */
import type { Doc, Filter, Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import type { JsonObject } from '../validate/document.js';
import type { JourneyInstance } from './instance.js';

export interface ResumePoint {
  /** The node that emitted the msg, and the output it left by. */
  node: string;
  port: number;
  snapshot: JsonObject;
  at: Date;
  /** The process carrying the msg (a journey-store's id for this start). */
  owner: string;
}

export interface ProcessDoc extends Doc {
  seenAt: Date;
}

export interface Liveness {
  /** How often a process says it is alive. */
  heartbeatMs: number;
  /** A process not seen for this long is dead: its msgs are taken over. Several heartbeats, so a slow store is not a death. */
  deadAfterMs: number;
}

/** Why a taken-over instance could not go on (kept on the instance, in English as other end reasons are). */
export const resumeNodeGone = (node: string): string => `its msg was lost with a stopped process, and node ${node} it left from is no longer in the flow`;
export const NO_RESUME_POINT = 'its msg was lost with a stopped process before a journey node had sent it';

export const DEFAULT_LIVENESS: Liveness = { heartbeatMs: 10_000, deadAfterMs: 30_000 };

/**
 * What became of a point: written; not, as the instance is no longer active (a waiting or
 * ended one has no msg travelling); or not, as another process carries its msg now.
 */
export type PointOutcome = 'recorded' | 'not-active' | 'taken';

/** The instances whose msg `owner` may carry: those it carries, and those nobody has carried yet. */
export const carriedBy = (owner: string): Filter => ({ $or: [{ 'resume.owner': owner }, { 'resume.owner': { $exists: false } }] });

/**
 * Records where the instance's msg left, if this process still carries it. A process that
 * was not heard from for `deadAfterMs` (paused, or cut off from the store) may find on
 * waking that another took its msgs over and sent them on from their points: its own copy
 * must then go no further, or the journey would run twice from there.
 */
export async function recordResumePoint(store: Store, instanceId: string, point: ResumePoint): Promise<PointOutcome> {
  const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
  // Shared with the points of other instances' msgs leaving nodes at the same time.
  const outcome = await instances.updateById(instanceId, { $set: { resume: point, updatedAt: point.at } }, { status: 'active', ...carriedBy(point.owner) });
  if (outcome === 'matched') return 'recorded';
  const now = await instances.findOne({ _id: instanceId });
  if (now?.status !== 'active') return 'not-active';
  const carrier = now.resume?.owner;
  if (carrier !== undefined && carrier !== point.owner) return 'taken';
  // Active and this process's: when its batch partly missed, the point is in.
  return outcome === 'unknown' && carrier === point.owner ? 'recorded' : 'not-active';
}

export async function heartbeat(store: Store, owner: string, at: Date): Promise<void> {
  await store.collection<ProcessDoc>(COLLECTIONS.processes).updateOne({ _id: owner }, { $set: { seenAt: at } }, { upsert: true });
}

/**
 * The owners whose msgs may be taken over at `now`: those whose heartbeat is older than
 * `deadAfterMs`, except `self`. A process writes its first heartbeat before its first point,
 * so an owner without one never carried a msg.
 */
export async function deadOwners(store: Store, self: string, now: Date, liveness: Liveness = DEFAULT_LIVENESS): Promise<string[]> {
  const cutoff = new Date(now.getTime() - liveness.deadAfterMs);
  // Dead owners are few (one per crashed start) and stay listed only until their last instance is taken.
  const dead: string[] = [];
  for await (const doc of store.collection<ProcessDoc>(COLLECTIONS.processes).find({ seenAt: { $lt: cutoff } }, { projection: { _id: 1 } })) {
    if (doc._id !== self) dead.push(doc._id);
  }
  return dead;
}

/**
 * Takes one active instance whose msg the dead `from` was carrying: the owner changes to
 * `to` in a conditional write, so of several processes claiming it exactly one wins.
 * Returns the instance as claimed, or null when `from` has none left. Its point may lack a
 * node: an instance a wait resumed that never had one (see Waits).
 */
export function claimStranded(store: Store, from: string, to: string, at: Date): Promise<JourneyInstance | null> {
  return store
    .collection<JourneyInstance>(COLLECTIONS.instances)
    .findOneAndUpdate({ 'resume.owner': from, status: 'active' }, { $set: { 'resume.owner': to, updatedAt: at } }, { returnDocument: 'after' });
}

/** Forgets a dead owner once none of its msgs is left to take over. */
export async function forgetOwner(store: Store, owner: string): Promise<boolean> {
  const left = await store.collection<JourneyInstance>(COLLECTIONS.instances).count({ 'resume.owner': owner, status: 'active' });
  if (left > 0) return false;
  return (await store.collection<ProcessDoc>(COLLECTIONS.processes).deleteOne({ _id: owner })) === 1;
}
