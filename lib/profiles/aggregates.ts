/**
 * Behavioural aggregates: per event name, how often and when. Applied with one guarded
 * update per event so that a retried or replayed event is counted once: the guard is the
 * profile's list of recently applied messageIds.
 *
 * `recent` keeps the times of the latest occurrences sorted by the event's own timestamp,
 * not by arrival, so an event delivered late still lands in the window it happened in.
 */
import type { Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { RECENT_EVENT_TIMES, RECENT_MESSAGE_IDS, type Profile } from './profile.js';

export interface Occurrence {
  messageId: string;
  name: string;
  timestamp: Date;
}

/** Returns the profile after the event is counted (whether by this call or an earlier one). */
export async function countEvent(store: Store, profileId: string, event: Occurrence, now: Date): Promise<Profile | null> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  const path = `aggregates.${event.name}`;
  const updated = await profiles.findOneAndUpdate(
    { _id: profileId, recentMessageIds: { $ne: event.messageId } },
    {
      $inc: { [`${path}.count`]: 1 },
      $min: { [`${path}.first`]: event.timestamp },
      $max: { [`${path}.last`]: event.timestamp },
      $push: {
        recentMessageIds: { $each: [event.messageId], $slice: -RECENT_MESSAGE_IDS },
        [`${path}.recent`]: { $each: [event.timestamp], $sort: -1, $slice: RECENT_EVENT_TIMES },
      },
      $set: { updatedAt: now },
    },
    { returnDocument: 'after' },
  );
  return updated ?? profiles.findOne({ _id: profileId });
}
