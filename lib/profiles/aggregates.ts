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
import { mergeRecent, RECENT_EVENT_TIMES, RECENT_MESSAGE_IDS, type EventAggregate, type Profile } from './profile.js';

export interface Occurrence {
  messageId: string;
  name: string;
  timestamp: Date;
}

/**
 * Counts the event on the profile. Nothing is read back: the write carries no answer, so
 * the store may send it with other events' writes in one round trip (see `countedIn` for
 * the profile as it leaves it).
 */
export async function countEvent(store: Store, profileId: string, event: Occurrence, now: Date): Promise<void> {
  const path = `aggregates.${event.name}`;
  await store.collection<Profile>(COLLECTIONS.profiles).updateById(
    profileId,
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
    { recentMessageIds: { $ne: event.messageId } },
  );
}

/** `profile` as `countEvent` leaves it: the same change, made to the copy the caller holds. */
export function countedIn(profile: Profile, event: Occurrence, now: Date): Profile {
  if (profile.recentMessageIds.includes(event.messageId)) return profile;
  const before = profile.aggregates[event.name];
  const at = event.timestamp;
  const aggregate: EventAggregate = before
    ? {
        count: before.count + 1,
        first: before.first.getTime() <= at.getTime() ? before.first : at,
        last: before.last.getTime() >= at.getTime() ? before.last : at,
        recent: mergeRecent(before.recent, [at]),
      }
    : { count: 1, first: at, last: at, recent: [at] };
  return {
    ...profile,
    aggregates: { ...profile.aggregates, [event.name]: aggregate },
    recentMessageIds: [...profile.recentMessageIds, event.messageId].slice(-RECENT_MESSAGE_IDS),
    updatedAt: now,
  };
}
