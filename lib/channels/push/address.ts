/** Where a profile's push tokens are: the deviceToken identities, one per app install. */
import type { Profile } from '../../profiles/profile.js';
import type { AddressLookup } from '../send.js';

/** FCM takes at most 500 messages in one sendEach call. */
export const MAX_PUSH_TOKENS = 500;

export const PUSH_TOKEN_IDENTITY = 'deviceToken';

export function pushTokens(profile: Profile): AddressLookup {
  const values = profile.identities?.[PUSH_TOKEN_IDENTITY] ?? [];
  const tokens = [...new Set(values.filter((t): t is string => typeof t === 'string' && t.trim() !== ''))];
  if (tokens.length === 0) {
    return { ok: false, reason: 'no-address', detail: `the profile has no push token (identity "${PUSH_TOKEN_IDENTITY}")` };
  }
  // Identities are appended as devices register: the newest are last, and the likeliest to be alive.
  return { ok: true, to: tokens.slice(-MAX_PUSH_TOKENS) };
}
