/**
 * Ingesting one event: validate, claim its messageId, resolve the profile, count it.
 *
 * The event document is the idempotency record. It is inserted with `_id = messageId`
 * before anything else, so a duplicate is refused at once. If a process dies after the
 * claim but before the event was fully applied, the claim stays `received`; a retry after
 * the lease has run out takes it over and finishes the work, and the profile's own guard
 * (recentMessageIds) keeps the count from being applied twice. A retry while the claim is
 * held is told the event is in progress, not that it is a duplicate: a sender that took
 * "duplicate" for "done" would never send again an event whose first taker died.
 */
import { resolveProfile } from '../profiles/resolve.js';
import { countEvent, countedIn } from '../profiles/aggregates.js';
import type { Profile } from '../profiles/profile.js';
import { DuplicateKeyError, type Doc, type Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { DEFAULT_LIMITS, type DocumentLimits, type JsonObject } from '../validate/document.js';
import type { RejectCode } from '../validate/result.js';
import { checkEvent, type JourneyEvent } from './event.js';

export interface EventDoc extends Doc, Omit<JourneyEvent, 'messageId'> {
  status: 'received' | 'processed';
  leaseUntil: Date;
  profileId?: string;
}

export type IngestResult =
  | { status: 'accepted'; event: JourneyEvent; profile: Profile; created: boolean; linked: string[] }
  | { status: 'rejected'; code: RejectCode; reason: string };

export interface IngestOptions {
  now?: Date;
  limits?: DocumentLimits;
  /** How long a half-processed event is left to its first taker before a retry may finish it. */
  leaseMs?: number;
  /**
   * The caller has work of its own to do for the event (enrolling the profile): the claim
   * is held until it calls `finishEvent`, so a retry after a crash in that work redoes it.
   */
  keepClaim?: boolean;
}

const DEFAULT_LEASE_MS = 30_000;

export async function ingestEvent(store: Store, input: unknown, options: IngestOptions = {}): Promise<IngestResult> {
  const now = options.now ?? new Date();
  const checked = checkEvent(input, now, options.limits ?? DEFAULT_LIMITS);
  if (!checked.ok) return { status: 'rejected', code: checked.code, reason: checked.reason };
  const event = checked.value;
  const claim = await claimMessage(store, event, now, options.leaseMs ?? DEFAULT_LEASE_MS);
  if (claim === 'duplicate') {
    return { status: 'rejected', code: 'DUPLICATE', reason: `messageId ${JSON.stringify(event.messageId)} was already received` };
  }
  if (claim === 'in-progress') {
    return { status: 'rejected', code: 'IN_PROGRESS', reason: `messageId ${JSON.stringify(event.messageId)} is being processed; try again later` };
  }
  const { profile: resolved, created, others } = await resolveProfile(store, event.identities, now);
  await countEvent(store, resolved._id, event, now);
  const profile = countedIn(resolved, event, now);
  if (!options.keepClaim) await finishEvent(store, event.messageId, profile._id);
  return { status: 'accepted', event, profile, created, linked: others };
}

/** Marks an ingested event done: from now on its messageId is a duplicate. */
export async function finishEvent(store: Store, messageId: string, profileId: string): Promise<void> {
  await store.collection<EventDoc>(COLLECTIONS.events).updateById(messageId, { $set: { status: 'processed', profileId } });
}

async function claimMessage(store: Store, event: JourneyEvent, now: Date, leaseMs: number): Promise<'claimed' | 'duplicate' | 'in-progress'> {
  const events = store.collection<EventDoc>(COLLECTIONS.events);
  const { messageId, ...rest } = event;
  try {
    await events.insertOne({ _id: messageId, ...rest, status: 'received', leaseUntil: new Date(now.getTime() + leaseMs) });
    return 'claimed';
  } catch (err) {
    if (!(err instanceof DuplicateKeyError)) throw err;
  }
  const takeover = await events.updateOne(
    { _id: messageId, status: 'received', leaseUntil: { $lt: now } },
    { $set: { leaseUntil: new Date(now.getTime() + leaseMs) } },
  );
  if (takeover.modified === 1) return 'claimed';
  const held = await events.findOne({ _id: messageId });
  return held?.status === 'received' ? 'in-progress' : 'duplicate';
}

/**
 * Records an event the package itself observed about a known profile (an email opened, a
 * link clicked, an SMS reply): stored like an ingested event and counted on the profile's
 * aggregates, so segments and goals can use it.
 */
export async function recordProfileEvent(
  store: Store,
  profileId: string,
  name: string,
  properties: JsonObject,
  messageId: string,
  now: Date,
): Promise<void> {
  const events = store.collection<EventDoc>(COLLECTIONS.events);
  try {
    await events.insertOne({ _id: messageId, name, identities: {}, properties, timestamp: now, receivedAt: now, status: 'processed', leaseUntil: now, profileId });
  } catch (err) {
    if (err instanceof DuplicateKeyError) return;
    throw err;
  }
  await countEvent(store, profileId, { messageId, name, timestamp: now }, now);
}
