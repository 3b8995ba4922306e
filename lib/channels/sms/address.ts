/** Where a profile's phone number is, and whether an SMS can be addressed to it. */
import type { Profile } from '../../profiles/profile.js';
import type { AddressLookup } from '../send.js';

/** E.164: a plus, a country code that does not start with 0, at most 15 digits in all. */
const E164 = /^\+[1-9]\d{1,14}$/;

/** The number as written without the spaces, dashes, dots and parentheses people put in for reading. */
export function compactPhone(value: string): string {
  return value.trim().replace(/[\s().-]/g, '');
}

/** The E.164 form of `value`, or null when it is not one (a number without its +country code is not guessed at). */
export function toE164(value: string): string | null {
  const compact = compactPhone(value);
  return E164.test(compact) ? compact : null;
}

/** The trait `phone` when the person gave one, else the first phone identity. */
export function smsAddress(profile: Profile): AddressLookup {
  const trait = profile.traits?.phone;
  const value = typeof trait === 'string' && trait.trim() !== '' ? trait.trim() : profile.identities?.phone?.[0];
  if (!value) return { ok: false, reason: 'no-address', detail: 'the profile has no phone number (trait or identity "phone")' };
  const number = toE164(value);
  if (!number) return { ok: false, reason: 'bad-address', detail: `${JSON.stringify(value)} is not an E.164 phone number (+ and country code, up to 15 digits)` };
  return { ok: true, to: [number] };
}
