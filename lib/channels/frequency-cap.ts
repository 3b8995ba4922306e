/**
 * Frequency caps ("at most 3 emails per 7 days per person, across journeys"). One small
 * document per profile and channel lists when it was last sent to; a send reserves its
 * slot with a versioned write, so two sends racing for the last slot (in one process or
 * several) cannot both take it.
 */
import { DuplicateKeyError, type Doc, type Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';

export interface FrequencyCap {
  max: number;
  windowMs: number;
}

interface CapDoc extends Doc {
  /** Send times, newest first: as many as the largest cap needs, none older than the longest window. */
  times: Date[];
  version: number;
}

/** Caps larger than this, or windows longer than this, are refused in the node's settings. */
export const CAP_LIMITS = { max: 100, windowMs: 366 * 86_400_000 };

export type CapDecision = { ok: true; reservedAt: Date } | { ok: false; nextFreeAt: Date; sent: number };

export function capProblem(cap: FrequencyCap): string | null {
  if (!Number.isInteger(cap.max) || cap.max < 1 || cap.max > CAP_LIMITS.max) return `the cap must be a whole number from 1 to ${CAP_LIMITS.max}`;
  if (!Number.isFinite(cap.windowMs) || cap.windowMs <= 0 || cap.windowMs > CAP_LIMITS.windowMs) return 'the cap period must be from a second to a year';
  return null;
}

const capId = (channel: string, profileId: string) => `${channel}:${profileId}`;

/** Takes a slot under the cap, or says when the next one frees up. */
export async function reserveSlot(store: Store, channel: string, profileId: string, cap: FrequencyCap, now: Date): Promise<CapDecision> {
  const caps = store.collection<CapDoc>(COLLECTIONS.frequencyCaps);
  const _id = capId(channel, profileId);
  const keepSince = now.getTime() - CAP_LIMITS.windowMs;
  for (let tries = 0; tries < 20; tries++) {
    const doc = await caps.findOne({ _id });
    const kept = (doc?.times ?? []).filter((t) => t.getTime() > keepSince);
    const inWindow = kept.filter((t) => t.getTime() > now.getTime() - cap.windowMs);
    if (inWindow.length >= cap.max) {
      const oldestCounted = inWindow[cap.max - 1] ?? inWindow[inWindow.length - 1];
      return { ok: false, sent: inWindow.length, nextFreeAt: new Date(oldestCounted.getTime() + cap.windowMs) };
    }
    const times = [now, ...kept].slice(0, CAP_LIMITS.max);
    if (!doc) {
      try {
        await caps.insertOne({ _id, times, version: 1 });
        return { ok: true, reservedAt: now };
      } catch (err) {
        if (!(err instanceof DuplicateKeyError)) throw err;
        continue;
      }
    }
    const won = await caps.findOneAndUpdate({ _id, version: doc.version }, { $set: { times, version: doc.version + 1 } });
    if (won) return { ok: true, reservedAt: now };
  }
  throw new Error(`could not reserve a ${channel} send for ${profileId}: too many sends racing`);
}

/** Gives a reserved slot back (the send did not go out). */
export async function releaseSlot(store: Store, channel: string, profileId: string, reservedAt: Date): Promise<void> {
  await store
    .collection<CapDoc>(COLLECTIONS.frequencyCaps)
    .updateOne({ _id: capId(channel, profileId) }, { $pull: { times: reservedAt }, $inc: { version: 1 } });
}
