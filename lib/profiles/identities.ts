/**
 * Identities: the keys a person is known by. Values are always strings, normalised so the
 * same person written two ways is one identity, and stored as `_id`s of the identities
 * collection (`email:ada@example.com`), so no identity value can ever act as an operator.
 */
import { isPlainObject, keyProblem } from '../validate/document.js';
import { accept, reject, type Checked } from '../validate/result.js';

export type Identities = Record<string, string>;

/** Identity fields also accepted at the top level of an event, as analytics SDKs send them. */
export const WELL_KNOWN_IDENTITIES = ['userId', 'anonymousId', 'email', 'phone', 'deviceToken'] as const;

const TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
const MAX_IDENTITIES = 10;
const MAX_VALUE_LENGTH = 256;

/**
 * Which identity decides the profile when an event's identities belong to different
 * profiles: the lower, the stronger. A login id outranks contact points, and a browser's
 * anonymous id is the weakest.
 */
export function identityRank(type: string): number {
  switch (type) {
    case 'userId':
      return 0;
    case 'email':
      return 1;
    case 'phone':
      return 2;
    case 'anonymousId':
      return 9;
    default:
      return 5;
  }
}

export const identityKey = (type: string, value: string): string => `${type}:${value}`;

/** Strongest first; ties broken by type name so the order is stable. */
export function rankedTypes(identities: Identities): string[] {
  return Object.keys(identities).sort((a, b) => identityRank(a) - identityRank(b) || a.localeCompare(b));
}

export function normaliseIdentity(type: string, raw: unknown): Checked<string> {
  if (typeof raw !== 'string') {
    return reject('BAD_IDENTITY', `identity ${type} must be a string, not ${raw === null ? 'null' : typeof raw}`);
  }
  const value = raw.trim();
  if (value.length === 0) return reject('BAD_IDENTITY', `identity ${type} is empty`);
  if (value.length > MAX_VALUE_LENGTH) {
    return reject('BAD_IDENTITY', `identity ${type} is longer than ${MAX_VALUE_LENGTH} characters`);
  }
  if (/[\u0000-\u001f\u007f]/.test(value)) return reject('BAD_IDENTITY', `identity ${type} contains control characters`);
  if (type === 'email') {
    const email = value.toLowerCase();
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) return reject('BAD_IDENTITY', `identity email is not an email address`);
    return accept(email);
  }
  if (type === 'phone') {
    // One spelling per number (E.164), or "+15551230001" and "15551230001" would be two people.
    // Digits without a + are taken to start with the country code; a national number (leading 0) cannot be placed.
    const digits = value.replace(/[\s().-]/g, '').replace(/^00/, '+');
    const phone = digits.startsWith('+') ? digits : `+${digits}`;
    if (!/^\+[1-9][0-9]{5,14}$/.test(phone)) {
      return reject('BAD_IDENTITY', `identity phone is not an international phone number (E.164: + country code and number)`);
    }
    return accept(phone);
  }
  return accept(value);
}

/** Reads identities from an `identities` object and from well-known top-level fields. */
export function checkIdentities(source: Record<string, unknown>): Checked<Identities> {
  const candidates: Array<[string, unknown]> = [];
  if (source.identities !== undefined) {
    if (!isPlainObject(source.identities)) return reject('BAD_IDENTITY', 'identities must be an object');
    candidates.push(...Object.entries(source.identities));
  }
  for (const type of WELL_KNOWN_IDENTITIES) {
    if (source[type] !== undefined) candidates.push([type, source[type]]);
  }
  if (candidates.length > MAX_IDENTITIES) return reject('TOO_LARGE', `more than ${MAX_IDENTITIES} identities`);
  const out: Identities = {};
  for (const [type, raw] of candidates) {
    const problem = keyProblem(type);
    if (problem) return reject('BAD_KEY', `identities have ${problem}`);
    if (!TYPE_PATTERN.test(type)) {
      return reject('BAD_IDENTITY', `identity type ${JSON.stringify(type)} must be a letter followed by letters, digits or _`);
    }
    const value = normaliseIdentity(type, raw);
    if (!value.ok) return value;
    if (out[type] !== undefined && out[type] !== value.value) {
      return reject('BAD_IDENTITY', `identity ${type} is given twice with different values`);
    }
    out[type] = value.value;
  }
  if (Object.keys(out).length === 0) {
    return reject('NO_IDENTITY', 'the event has no identity (userId, anonymousId, email, phone or identities.<type>)');
  }
  return accept(out);
}
