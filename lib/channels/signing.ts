/**
 * Signed tokens for the links the package puts in messages (open pixel, click redirect,
 * unsubscribe). The key is made once per database and kept in it, so every Node-RED
 * process on the database signs and checks alike and nothing has to be configured; a
 * token names one delivery and one action, and cannot be altered to name another.
 */
import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { DuplicateKeyError, type Doc, type Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';

interface SecretDoc extends Doc {
  key: string;
  createdAt: Date;
}

const SECRET_ID = 'link-signing-key';
const keys = new WeakMap<Store, Promise<Buffer>>();

export function signingKey(store: Store): Promise<Buffer> {
  let key = keys.get(store);
  if (!key) {
    key = loadOrCreate(store);
    keys.set(store, key);
    key.catch(() => keys.delete(store));
  }
  return key;
}

async function loadOrCreate(store: Store): Promise<Buffer> {
  const settings = store.collection<SecretDoc>(COLLECTIONS.settings);
  const found = await settings.findOne({ _id: SECRET_ID });
  if (found) return Buffer.from(found.key, 'base64');
  try {
    await settings.insertOne({ _id: SECRET_ID, key: randomBytes(32).toString('base64'), createdAt: new Date() });
  } catch (err) {
    if (!(err instanceof DuplicateKeyError)) throw err; // another process made it first: use theirs
  }
  const made = await settings.findOne({ _id: SECRET_ID });
  if (!made) throw new Error('the link-signing key could not be stored');
  return Buffer.from(made.key, 'base64');
}

export type LinkAction = 'open' | 'click' | 'unsubscribe' | 'preferences';

export interface LinkClaim {
  /** The delivery. */
  d: string;
  a: LinkAction;
  /** The journey-store config node whose store holds the delivery. */
  s: string;
  /** Where a click goes. */
  u?: string;
}

/**
 * The key as a KeyObject, made once per key: given a Buffer, createHmac checks and wraps it
 * anew on every call, seven times the cost of the HMAC itself, and an email signs several
 * links (open pixel, each click, unsubscribe, preferences).
 */
const keyObjects = new WeakMap<Buffer, KeyObject>();
function keyObject(key: Buffer): KeyObject {
  let made = keyObjects.get(key);
  if (!made) {
    made = createSecretKey(key);
    keyObjects.set(key, made);
  }
  return made;
}

const mac = (key: Buffer, body: string) => createHmac('sha256', keyObject(key)).update(body).digest('base64url');

export function signLink(key: Buffer, claim: LinkClaim): string {
  const body = Buffer.from(JSON.stringify(claim)).toString('base64url');
  return `${body}.${mac(key, body)}`;
}

/** The unverified claim, to find which store's key checks it. Null when it is not a token at all. */
export function peekLink(token: string): LinkClaim | null {
  if (token.length > 8192) return null;
  const [body, signature, extra] = token.split('.');
  if (!body || !signature || extra !== undefined) return null;
  try {
    const claim = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Partial<LinkClaim>;
    if (typeof claim.d !== 'string' || typeof claim.s !== 'string' || !['open', 'click', 'unsubscribe', 'preferences'].includes(String(claim.a))) return null;
    if (claim.u !== undefined && typeof claim.u !== 'string') return null;
    return claim as LinkClaim;
  } catch {
    return null;
  }
}

export function verifyLink(key: Buffer, token: string): LinkClaim | null {
  const claim = peekLink(token);
  if (!claim) return null;
  const [body, signature] = token.split('.') as [string, string];
  const expected = Buffer.from(mac(key, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given) ? claim : null;
}
