/** Where a profile's email address is, and whether it can take mail. */
import type { Profile } from '../../profiles/profile.js';
import type { AddressLookup } from '../send.js';

/** Deliberately plain: one @, no spaces or angle brackets, a dotted domain. Providers check the rest. */
const EMAIL = /^[^\s@<>()",;:]{1,64}@[^\s@<>()",;:]+\.[^\s@<>()",;:]{2,}$/;

export function isEmailAddress(value: string): boolean {
  return value.length <= 254 && EMAIL.test(value);
}

/** The trait `email` when the person gave one, else the first email identity. */
export function emailAddress(profile: Profile): AddressLookup {
  const trait = profile.traits?.email;
  const value = typeof trait === 'string' && trait.trim() !== '' ? trait.trim() : profile.identities?.email?.[0];
  if (!value) return { ok: false, reason: 'no-address', detail: 'the profile has no email address (trait or identity "email")' };
  if (!isEmailAddress(value)) return { ok: false, reason: 'bad-address', detail: `${JSON.stringify(value)} is not an email address` };
  return { ok: true, to: [value] };
}
