/** Consent changes the package makes itself (an unsubscribe link, a bounce, an SMS STOP or START). */
import type { Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import type { ConsentStatus, Profile } from './profile.js';

const MAX_HOPS = 20;

/** Sets a channel's consent, with the reason, on the live profile (following merges). False when there is none. */
export async function setConsent(store: Store, profileId: string, channel: string, status: ConsentStatus, now: Date, reason?: string): Promise<boolean> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  let id = profileId;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const updated = await profiles.findOneAndUpdate(
      { _id: id, mergedInto: { $exists: false } },
      { $set: { [`consent.${channel}`]: { status, at: now, ...(reason ? { reason } : {}) }, updatedAt: now }, $inc: { version: 1 } },
    );
    if (updated) return true;
    const merged = await profiles.findOne({ _id: id }, { projection: { mergedInto: 1 } });
    if (!merged?.mergedInto) return false;
    id = merged.mergedInto;
  }
  return false;
}
