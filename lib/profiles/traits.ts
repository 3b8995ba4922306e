/**
 * Merging traits into a profile, field by field. Keep-first and append need the current
 * value, so such a merge is a read-modify-write guarded by the profile's version: a
 * concurrent writer makes the guard miss and the merge is recomputed. Overwrites and sums
 * (added by the store) need no read, so a merge of only those is one write.
 */
import type { Filter, Store, Update } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import type { JsonObject, JsonValue } from '../validate/document.js';
import { RECENT_MESSAGE_IDS, type ConsentEntry, type ConsentStatus, type Profile } from './profile.js';

export const MERGE_STRATEGIES = ['overwrite', 'keepFirst', 'append', 'sum'] as const;
export type MergeStrategy = (typeof MERGE_STRATEGIES)[number];

export interface MergePolicy {
  default: MergeStrategy;
  fields: Record<string, MergeStrategy>;
}

/** Lists kept by `append` are capped so a trait cannot grow a profile without bound. */
export const MAX_APPENDED_ITEMS = 100;
const MAX_ATTEMPTS = 8;

export class TraitMergeError extends Error {
  readonly code = 'BAD_TRAIT';
}

export function isMergeStrategy(value: unknown): value is MergeStrategy {
  return typeof value === 'string' && (MERGE_STRATEGIES as readonly string[]).includes(value);
}

/** The value a field takes when `incoming` meets `current` under `strategy`. */
export function mergeValue(field: string, strategy: MergeStrategy, current: JsonValue | undefined, incoming: JsonValue): JsonValue {
  switch (strategy) {
    case 'overwrite':
      return incoming;
    case 'keepFirst':
      return current === undefined || current === null ? incoming : current;
    case 'sum': {
      if (typeof incoming !== 'number') throw new TraitMergeError(`trait ${field} is summed, so it must be a number`);
      if (current === undefined || current === null) return incoming;
      if (typeof current !== 'number') throw new TraitMergeError(`trait ${field} is summed but the profile holds a non-number`);
      return current + incoming;
    }
    case 'append': {
      const list = current === undefined || current === null ? [] : Array.isArray(current) ? [...current] : [current];
      for (const item of Array.isArray(incoming) ? incoming : [incoming]) {
        if (!list.some((existing) => sameJson(existing, item))) list.push(item);
      }
      return list.slice(-MAX_APPENDED_ITEMS);
    }
  }
}

function sameJson(a: JsonValue, b: JsonValue): boolean {
  return a === b || (typeof a === 'object' && typeof b === 'object' && JSON.stringify(a) === JSON.stringify(b));
}

export function mergeTraits(current: JsonObject, incoming: JsonObject, policy: MergePolicy): JsonObject {
  const next: JsonObject = { ...current };
  for (const [field, value] of Object.entries(incoming)) {
    next[field] = mergeValue(field, policy.fields[field] ?? policy.default, current[field], value);
  }
  return next;
}

/** Per channel, the more recent decision wins. */
export function mergeConsent(
  a: Record<string, ConsentEntry>,
  b: Record<string, ConsentEntry>,
): Record<string, ConsentEntry> {
  const out: Record<string, ConsentEntry> = { ...a };
  for (const [channel, entry] of Object.entries(b)) {
    const mine = out[channel];
    if (!mine || entry.at.getTime() > mine.at.getTime()) out[channel] = entry;
  }
  return out;
}

export interface ProfileChanges {
  traits?: JsonObject;
  consent?: Record<string, ConsentStatus>;
}

/**
 * Applies traits and consent to a live profile; returns the profile as stored afterwards.
 * `once`, when given, names this application (e.g. a node and the event's messageId): a
 * replay of it — a retried event, a msg sent on again after a crash — changes nothing, so a
 * sum is not added twice nor an append made twice. The key joins the event messageIds the
 * profile keeps, in the same write as the change.
 */
export async function applyProfileChanges(
  store: Store,
  profileId: string,
  changes: ProfileChanges,
  policy: MergePolicy,
  now: Date,
  once?: string,
): Promise<Profile> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  const fields = Object.keys(changes.traits ?? {});
  const strategies = fields.map((field) => policy.fields[field] ?? policy.default);
  if (strategies.every((s, i) => s === 'overwrite' || (s === 'sum' && typeof changes.traits![fields[i]!] === 'number'))) {
    // Nothing here depends on the current values: one write, which no concurrent writer can make miss.
    // Guarded so that a profile merged away, or a summed trait that is not a number, takes the read below.
    const numeric = fields.filter((_, i) => strategies[i] === 'sum').map((field) => ({ $or: [{ [`traits.${field}`]: { $exists: false } }, { [`traits.${field}`]: { $type: 'number' } }] }));
    const updated = await guardedWrite(
      store,
      profileId,
      { mergedInto: { $exists: false }, ...(numeric.length > 0 ? { $and: numeric } : {}), ...notYet(once) },
      modifier(changes, changes.traits ?? {}, policy, now, true, once),
      once,
    );
    if (updated) return updated;
  }
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await profiles.findOne({ _id: profileId });
    if (!current) throw new Error(`profile ${profileId} does not exist`);
    if (once !== undefined && current.recentMessageIds.includes(once)) return current;
    if (current.mergedInto) return applyProfileChanges(store, current.mergedInto, changes, policy, now, once);
    const merged = changes.traits ? mergeTraits(current.traits, changes.traits, policy) : {};
    const updated = await guardedWrite(store, profileId, { version: current.version }, modifier(changes, merged, policy, now, false, once), once);
    if (updated) return updated;
  }
  throw new Error(`profile ${profileId} changed too often to merge traits (${MAX_ATTEMPTS} attempts)`);
}

/**
 * Applies `update` to the profile if it matches `where`; the profile after it, or null when
 * `where` kept it out. A keyed change (`once`) goes as a shared write, whose batch may not
 * tell whether this one matched: then the key in the profile read back tells, as the write
 * records it in the same update. An unkeyed change has no such mark, so it is one write
 * that answers for itself.
 */
async function guardedWrite(store: Store, profileId: string, where: Filter, update: Update, once: string | undefined): Promise<Profile | null> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  if (once === undefined) return profiles.findOneAndUpdate({ _id: profileId, ...where }, update, { returnDocument: 'after' });
  const outcome = await profiles.updateById(profileId, update, where);
  if (outcome === 'missed') return null;
  const after = await profiles.findOne({ _id: profileId });
  if (!after) throw new Error(`profile ${profileId} does not exist`);
  // A matched write is in even if later events have since pushed its key out of the capped list.
  return outcome === 'matched' || after.recentMessageIds.includes(once) ? after : null;
}

/**
 * The update that writes `changes`, with each changed trait's merged value from `merged`.
 * `incrementSums`: sums are added by the store itself, so concurrent sums never lose one
 * another; otherwise (a version-checked write of values merged from what was read, which
 * also covers a summed trait stored as null, where MongoDB refuses $inc) they are set.
 */
function modifier(
  changes: ProfileChanges,
  merged: JsonObject,
  policy: MergePolicy,
  now: Date,
  incrementSums: boolean,
  once: string | undefined,
): { $set: Record<string, unknown>; $inc: Record<string, number>; $push?: { recentMessageIds: { $each: string[]; $slice: number } } } {
  const set: Record<string, unknown> = { updatedAt: now };
  const inc: Record<string, number> = { version: 1 };
  for (const field of Object.keys(changes.traits ?? {})) {
    if (incrementSums && (policy.fields[field] ?? policy.default) === 'sum') inc[`traits.${field}`] = changes.traits![field] as number;
    else set[`traits.${field}`] = merged[field];
  }
  for (const [channel, status] of Object.entries(changes.consent ?? {})) {
    set[`consent.${channel}`] = { status, at: now } satisfies ConsentEntry;
  }
  return { $set: set, $inc: inc, ...(once !== undefined ? { $push: { recentMessageIds: { $each: [once], $slice: -RECENT_MESSAGE_IDS } } } : {}) };
}

function notYet(once: string | undefined): { recentMessageIds?: { $ne: string } } {
  return once !== undefined ? { recentMessageIds: { $ne: once } } : {};
}
