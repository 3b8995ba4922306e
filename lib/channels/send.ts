/**
 * One send, the same for every channel: the message's key, the fresh profile, its address,
 * consent, quiet hours, the frequency cap, the templates, then the outbox. What differs per
 * channel (where the address is, what the content looks like after rendering) comes in as
 * a ChannelSpec.
 */
import { setConsent } from '../profiles/consent.js';
import { findLiveProfile } from '../profiles/resolve.js';
import type { Profile } from '../profiles/profile.js';
import type { Store } from '../store/port.js';
import type { Delivery, ChannelName, NotSentReason } from './delivery.js';
import { deliveryKey } from './delivery.js';
import { reserveSlot, type FrequencyCap } from './frequency-cap.js';
import { Outbox, type DeliverOptions, type Provider } from './outbox.js';
import { quietUntil, type QuietHours } from './quiet-hours.js';
import { TemplateError, type TemplateSet } from './template.js';
import { isTimeZone } from '../journeys/wait-time.js';

export type AddressLookup = { ok: true; to: string[] } | { ok: false; reason: 'no-address' | 'bad-address'; detail: string };

export interface ChannelSpec<F extends string> {
  channel: ChannelName;
  /** Where this channel's addresses are on a profile. */
  addresses(profile: Profile): AddressLookup;
  /** Extra names the templates may use, known before rendering (an unsubscribe link, say). */
  scopeExtras?(deliveryId: string, profile: Profile): Promise<Record<string, unknown>>;
  /** Forgets addresses the provider reported dead (push tokens FCM no longer knows). */
  dropAddresses?(store: Store, profileId: string, addresses: string[], now: Date): Promise<unknown>;
  /** The rendered fields as they are stored and sent (tracked links, a pixel...). */
  finish?(rendered: Record<F, string>, deliveryId: string): Promise<Record<string, string>>;
}

export type ConsentMode = 'opt-in' | 'opt-out';

export interface SendPolicy {
  /** opt-in: only to profiles that granted consent on the channel; opt-out: to all who have not denied it. */
  consent: ConsentMode;
  cap?: FrequencyCap;
  quietHours?: QuietHours & { defaultZone: string; zoneTrait?: string };
}

export interface SendRequest<F extends string> {
  spec: ChannelSpec<F>;
  node: string;
  provider: Provider;
  templates: TemplateSet<F>;
  policy: SendPolicy;
  profileId: string;
  instanceId: string | null;
  journey: string | null;
  variant: string | null;
  msgId: string;
  /** How many times this msg went through the node before (see deliveryKey). */
  pass?: number;
  /** What the templates see besides the profile (read fresh here). */
  scope: { event: unknown; journey: unknown; msg: unknown };
  now: Date;
  deliver?: DeliverOptions;
}

export type SendOutcome =
  | { kind: 'done'; delivery: Delivery }
  /** The key was used before: nothing sent now. */
  | { kind: 'duplicate'; delivery: Delivery }
  /** Quiet hours: send again at `until` (the caller holds the msg durably until then). */
  | { kind: 'deferred'; until: Date }
  /** Nothing to record against: the profile does not exist. */
  | { kind: 'no-profile'; detail: string };

export async function send<F extends string>(store: Store, request: SendRequest<F>): Promise<SendOutcome> {
  const { spec, now } = request;
  const outbox = new Outbox(store);
  const id = deliveryKey(spec.channel, request.node, request.instanceId, request.msgId, request.pass);
  const earlier = await outbox.get(id);
  if (earlier) return { kind: 'duplicate', delivery: earlier };

  const profile = await findLiveProfile(store, request.profileId);
  if (!profile) return { kind: 'no-profile', detail: `no profile ${JSON.stringify(request.profileId)}` };

  const base: Delivery = {
    _id: id,
    channel: spec.channel,
    node: request.node,
    journey: request.journey,
    instanceId: request.instanceId,
    profileId: profile._id,
    variant: request.variant,
    to: [],
    content: {},
    status: 'queued',
    outbox: request.provider.outbox,
    provider: request.provider.name,
    attempts: 0,
    dueAt: now,
    opens: 0,
    clicks: 0,
    createdAt: now,
    updatedAt: now,
  };
  const notSent = async (reason: NotSentReason, detail: string, status: 'skipped' | 'failed' = 'skipped'): Promise<SendOutcome> => {
    const recorded = await outbox.create({ ...base, status, reason, detail });
    return recorded.created ? { kind: 'done', delivery: recorded.delivery } : { kind: 'duplicate', delivery: recorded.delivery };
  };

  const address = spec.addresses(profile);
  if (!address.ok) return notSent(address.reason, address.detail);
  base.to = address.to;

  const refused = consentRefusal(profile, spec.channel, request.policy.consent);
  if (refused) return notSent(refused.reason, refused.detail);

  const quiet = request.policy.quietHours;
  if (quiet) {
    const zone = profileZone(profile, quiet.zoneTrait ?? 'timezone') ?? quiet.defaultZone;
    const until = quietUntil(now, quiet, zone);
    if (until) return { kind: 'deferred', until };
  }

  let content: Record<string, string>;
  try {
    const extras = (await spec.scopeExtras?.(id, profile)) ?? {};
    const rendered = request.templates.render({ ...request.scope, ...extras, profile: publicProfile(profile) });
    content = (await spec.finish?.(rendered, id)) ?? rendered;
  } catch (err) {
    if (err instanceof TemplateError) return notSent('template-error', err.message, 'failed');
    throw err;
  }

  if (request.policy.cap) {
    const slot = await reserveSlot(store, spec.channel, profile._id, request.policy.cap, now);
    if (!slot.ok) {
      return notSent('frequency-cap', `${slot.sent} ${spec.channel} sends in the cap's period; the next is allowed after ${slot.nextFreeAt.toISOString()}`);
    }
    base.capReservedAt = slot.reservedAt;
  }

  const recorded = await outbox.create({ ...base, content });
  if (!recorded.created) return { kind: 'duplicate', delivery: recorded.delivery };
  const final = await outbox.deliver(id, request.provider, request.deliver);
  // A hard bounce or a STOP from the provider withdraws the channel's consent: nobody sends there again.
  if (final?.status === 'failed' && (final.reason === 'bounced' || final.reason === 'stop')) {
    await setConsent(store, profile._id, spec.channel, 'denied', new Date(), final.reason);
  }
  if (final?.badAddresses?.length && spec.dropAddresses) await spec.dropAddresses(store, profile._id, final.badAddresses, new Date());
  return { kind: 'done', delivery: final ?? recorded.delivery };
}

export function consentRefusal(profile: Profile, channel: ChannelName, mode: ConsentMode): { reason: NotSentReason; detail: string } | null {
  const entry = profile.consent?.[channel];
  if (entry?.status === 'denied') {
    const reason: NotSentReason = entry.reason === 'unsubscribed' || entry.reason === 'bounced' || entry.reason === 'stop' ? entry.reason : 'consent-denied';
    return { reason, detail: `${channel} consent was withdrawn${entry.reason ? ` (${entry.reason})` : ''} on ${new Date(entry.at).toISOString()}` };
  }
  if (mode === 'opt-in' && entry?.status !== 'granted') {
    return { reason: 'no-consent', detail: `the profile has not granted ${channel} consent` };
  }
  return null;
}

function profileZone(profile: Profile, trait: string): string | null {
  const zone = profile.traits?.[trait];
  return typeof zone === 'string' && isTimeZone(zone) ? zone : null;
}

/** The profile as templates see it: what a person is, not the package's bookkeeping. */
function publicProfile(profile: Profile): Record<string, unknown> {
  return { id: profile._id, traits: profile.traits, identities: profile.identities, consent: profile.consent, createdAt: profile.createdAt };
}
