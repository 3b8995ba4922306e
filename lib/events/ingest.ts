/**
 * Ingesting one event: validate, claim its messageId, resolve the profile, count it.
 *
 * The event document is the idempotency record. It is inserted with `_id = messageId`
 * before anything else, so a duplicate is refused at once. If a process dies after the
 * claim but before the event was fully applied, the claim stays `received`; a retry after
 * the lease has run out takes it over and finishes the work, and the profile's own guard
 * (recentMessageIds) keeps the count from being applied twice.
 */
import { resolveProfile } from '../profiles/resolve.js';
import { countEvent } from '../profiles/aggregates.js';
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
}

const DEFAULT_LEASE_MS = 30_000;

export async function ingestEvent(store: Store, input: unknown, options: IngestOptions = {}): Promise<IngestResult> {
  const now = options.now ?? new Date();
  const checked = checkEvent(input, now, options.limits ?? DEFAULT_LIMITS);
  if (!checked.ok) return { status: 'rejected', code: checked.code, reason: checked.reason };
  const event = checked.value;
  const claimed = await claimMessage(store, event, now, options.leaseMs ?? DEFAULT_LEASE_MS);
  if (!claimed) {
    return { status: 'rejected', code: 'DUPLICATE', reason: `messageId ${JSON.stringify(event.messageId)} was already received` };
  }
  const { profile: resolved, created, others } = await resolveProfile(store, event.identities, now);
  const profile = (await countEvent(store, resolved._id, event, now)) ?? resolved;
  await store
    .collection<EventDoc>(COLLECTIONS.events)
    .updateOne({ _id: event.messageId }, { $set: { status: 'processed', profileId: profile._id } });
  return { status: 'accepted', event, profile, created, linked: others };
}

async function claimMessage(store: Store, event: JourneyEvent, now: Date, leaseMs: number): Promise<boolean> {
  const events = store.collection<EventDoc>(COLLECTIONS.events);
  const { messageId, ...rest } = event;
  try {
    await events.insertOne({ _id: messageId, ...rest, status: 'received', leaseUntil: new Date(now.getTime() + leaseMs) });
    return true;
  } catch (err) {
    if (!(err instanceof DuplicateKeyError)) throw err;
  }
  const takeover = await events.updateOne(
    { _id: messageId, status: 'received', leaseUntil: { $lt: now } },
    { $set: { leaseUntil: new Date(now.getTime() + leaseMs) } },
  );
  return takeover.modified === 1;
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
