/**
 * Replies to the sending number, as Twilio's inbound-message webhook delivers them: STOP
 * and START keywords change the person's SMS consent, and every reply is recorded as an
 * event on the profile (so segments and goals can use it). The sender is found by the
 * phone identity only; an unknown number changes nothing and creates no profile.
 */
import twilio from 'twilio';
import { recordProfileEvent } from '../../events/ingest.js';
import { setConsent } from '../../profiles/consent.js';
import { identityKey } from '../../profiles/identities.js';
import type { IdentityDoc } from '../../profiles/profile.js';
import { followMerges } from '../../profiles/resolve.js';
import type { Store } from '../../store/port.js';
import { COLLECTIONS } from '../../store/schema.js';
import { compactPhone } from './address.js';

export type InboundKind = 'stop' | 'start' | 'help' | 'reply';

/** Twilio's default opt-out, opt-in and help keywords (the whole message, any case). */
const KEYWORDS: Record<string, InboundKind> = {
  STOP: 'stop',
  STOPALL: 'stop',
  UNSUBSCRIBE: 'stop',
  CANCEL: 'stop',
  END: 'stop',
  QUIT: 'stop',
  START: 'start',
  YES: 'start',
  UNSTOP: 'start',
  HELP: 'help',
  INFO: 'help',
};

/** A body kept on the reply event is cut to this: one long concatenated SMS. */
const MAX_BODY = 1600;

export function inboundKind(body: string): InboundKind {
  const word = body.trim().replace(/[.!]+$/, '').toUpperCase();
  return KEYWORDS[word] ?? 'reply';
}

/** The X-Twilio-Signature check, by the SDK: `url` is the full URL Twilio requested, `params` the POSTed form fields. */
export function verifyInbound(authToken: string, signature: string | undefined, url: string, params: Record<string, string>): boolean {
  if (!signature || !authToken) return false;
  return twilio.validateRequest(authToken, signature, url, params);
}

/** The live profile that owns `phone` as an identity, or null. Never creates one. */
export async function profileByPhone(store: Store, phone: string): Promise<string | null> {
  const compact = compactPhone(phone);
  if (!/^\+?\d{6,15}$/.test(compact)) return null;
  // Identities keep a + when the person's number was given with one, and not otherwise.
  const digits = compact.replace(/^\+/, '');
  const keys = [identityKey('phone', `+${digits}`), identityKey('phone', digits)];
  const identities = store.collection<IdentityDoc>(COLLECTIONS.identities);
  for (const key of keys) {
    const doc = await identities.findOne({ _id: key });
    if (doc) return followMerges(store, doc.profileId);
  }
  return null;
}

export interface InboundResult {
  kind: InboundKind;
  /** Null for a number that belongs to no profile (nothing was changed). */
  profileId: string | null;
}

/** Applies one inbound SMS (Twilio's form fields: From, To, Body, MessageSid). Idempotent per MessageSid. */
export async function handleInbound(store: Store, params: Record<string, string>, now: Date): Promise<InboundResult> {
  const kind = inboundKind(params.Body ?? '');
  const profileId = params.From ? await profileByPhone(store, params.From) : null;
  if (!profileId) return { kind, profileId: null };
  if (kind === 'stop') await setConsent(store, profileId, 'sms', 'denied', now, 'stop');
  if (kind === 'start') await setConsent(store, profileId, 'sms', 'granted', now, 'start');
  const sid = params.MessageSid ?? params.SmsSid ?? '';
  const properties = {
    from: params.From ?? '',
    to: params.To ?? '',
    messageSid: sid,
    ...(kind === 'reply' ? { body: (params.Body ?? '').slice(0, MAX_BODY) } : {}),
  };
  // Twilio retries a webhook it got no answer to: the message SID makes the retry count once.
  const messageId = sid ? `sms_${kind}:${sid}` : `sms_${kind}:${profileId}:${now.getTime()}`;
  await recordProfileEvent(store, profileId, `sms_${kind}`, properties, messageId, now);
  return { kind, profileId };
}

