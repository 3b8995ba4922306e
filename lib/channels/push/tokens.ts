/**
 * Forgetting push tokens FCM says are dead: pulled from the profile's deviceToken
 * identities, and their identity claims deleted, so the next event carrying the same token
 * (an app reinstalled) can claim it afresh.
 */
import { identityKey } from '../../profiles/identities.js';
import type { IdentityDoc, Profile } from '../../profiles/profile.js';
import type { Store } from '../../store/port.js';
import { COLLECTIONS } from '../../store/schema.js';
import { PUSH_TOKEN_IDENTITY } from './address.js';

const MAX_HOPS = 20;

/** Removes `tokens` from the live profile (following merges). Returns how many it held. */
export async function removePushTokens(store: Store, profileId: string, tokens: string[], now: Date): Promise<number> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  let id = profileId;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const profile = await profiles.findOne({ _id: id }, { projection: { mergedInto: 1 } });
    if (!profile) return 0;
    if (profile.mergedInto) {
      id = profile.mergedInto;
      continue;
    }
    let removed = 0;
    // One exact value per $pull: condition forms of $pull are not matched alike by every wire-compatible server.
    for (const token of tokens) {
      const result = await profiles.updateOne(
        { _id: id, [`identities.${PUSH_TOKEN_IDENTITY}`]: token },
        // The version bump keeps a merge that read the profile before from writing the token back.
        { $pull: { [`identities.${PUSH_TOKEN_IDENTITY}`]: token }, $set: { updatedAt: now }, $inc: { version: 1 } },
      );
      removed += result.modified;
      // Only this profile's claim: a token that moved to someone else meanwhile stays theirs.
      await store.collection<IdentityDoc>(COLLECTIONS.identities).deleteOne({ _id: identityKey(PUSH_TOKEN_IDENTITY, token), profileId: id });
    }
    return removed;
  }
  return 0;
}
