/**
 * Stitching two profiles of one person into one (anonymous browsing, then sign-up).
 *
 * The steps are ordered so that a crash anywhere leaves a state the next attempt completes
 * without counting anything twice:
 *   1. fold the loser's identities, traits, aggregates and consent into the winner, in one
 *      update guarded by the winner's version and by `mergedFrom` not yet naming the loser;
 *   2. point the loser's identity claims at the winner;
 *   3. move the loser's live journey instances to the winner (lib/journeys);
 *   4. mark the loser `mergedInto` the winner and empty it.
 * Resolution follows `mergedInto`, so an event with the old anonymousId finds the winner
 * even before step 2 has run.
 */
import type { Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { identityRank } from './identities.js';
import { mergeRecent, RECENT_MESSAGE_IDS, type EventAggregate, type IdentityDoc, type Profile } from './profile.js';
import { mergeConsent, mergeValue } from './traits.js';
import { resolveProfile } from './resolve.js';
import type { Identities } from './identities.js';
import { moveInstancesOnMerge } from '../journeys/lifecycle.js';

const MAX_ATTEMPTS = 8;

/** Which of two profiles survives: the one known by the stronger identity, then the older. */
export function chooseSurvivor(a: Profile, b: Profile): [winner: Profile, loser: Profile] {
  const strength = (p: Profile) => Math.min(...Object.keys(p.identities).map(identityRank), 99);
  const byStrength = strength(a) - strength(b);
  if (byStrength !== 0) return byStrength < 0 ? [a, b] : [b, a];
  return a.createdAt.getTime() <= b.createdAt.getTime() ? [a, b] : [b, a];
}

export async function stitchProfiles(store: Store, winnerId: string, loserId: string, now: Date): Promise<Profile> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  if (winnerId === loserId) throw new Error('a profile cannot be merged into itself');
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const [winner, loser] = await Promise.all([profiles.findOne({ _id: winnerId }), profiles.findOne({ _id: loserId })]);
    if (!winner || !loser) throw new Error(`cannot merge: profile ${winner ? loserId : winnerId} does not exist`);
    if (winner.mergedInto) throw new Error(`cannot merge into ${winnerId}: it was itself merged into ${winner.mergedInto}`);
    if (loser.mergedInto && loser.mergedInto !== winnerId) {
      throw new Error(`profile ${loserId} was already merged into ${loser.mergedInto}`);
    }
    if (!winner.mergedFrom.includes(loserId)) {
      const folded = await profiles.findOneAndUpdate(
        { _id: winnerId, version: winner.version, mergedFrom: { $ne: loserId } },
        { $set: { ...fold(winner, loser), updatedAt: now }, $inc: { version: 1 }, $push: { mergedFrom: loserId } },
        { returnDocument: 'after' },
      );
      if (!folded) continue; // the winner changed meanwhile: fold again from fresh copies
    }
    await store
      .collection<IdentityDoc>(COLLECTIONS.identities)
      .updateMany({ profileId: loserId }, { $set: { profileId: winnerId } });
    await moveInstancesOnMerge(store, loserId, winnerId, now);
    await profiles.updateOne(
      { _id: loserId },
      {
        $set: { mergedInto: winnerId, traits: {}, aggregates: {}, consent: {}, updatedAt: now },
        $inc: { version: 1 },
      },
    );
    const merged = await profiles.findOne({ _id: winnerId });
    if (!merged) throw new Error(`profile ${winnerId} vanished during a merge`);
    return merged;
  }
  throw new Error(`profile ${winnerId} changed too often to merge ${loserId} into it`);
}

/** The winner's fields after taking in the loser's. The winner's traits win a conflict. */
function fold(winner: Profile, loser: Profile): Partial<Profile> {
  const identities: Record<string, string[]> = {};
  for (const source of [winner.identities, loser.identities]) {
    for (const [type, values] of Object.entries(source)) {
      identities[type] = [...new Set([...(identities[type] ?? []), ...values])];
    }
  }
  const traits = { ...winner.traits };
  for (const [field, value] of Object.entries(loser.traits)) {
    const mine = traits[field];
    if (mine === undefined || mine === null) traits[field] = value;
    else if (Array.isArray(mine) && Array.isArray(value)) traits[field] = mergeValue(field, 'append', mine, value);
  }
  const aggregates: Record<string, EventAggregate> = { ...winner.aggregates };
  for (const [name, theirs] of Object.entries(loser.aggregates)) {
    const mine = aggregates[name];
    if (!mine) {
      aggregates[name] = theirs;
      continue;
    }
    const folded: EventAggregate = {
      count: mine.count + theirs.count,
      first: mine.first.getTime() <= theirs.first.getTime() ? mine.first : theirs.first,
      last: mine.last.getTime() >= theirs.last.getTime() ? mine.last : theirs.last,
    };
    // Both people's latest occurrences, interleaved by time, so a window counts them all.
    if (mine.recent || theirs.recent) folded.recent = mergeRecent(mine.recent, theirs.recent);
    aggregates[name] = folded;
  }
  return {
    identities,
    traits,
    aggregates,
    consent: mergeConsent(winner.consent, loser.consent),
    recentMessageIds: [...new Set([...loser.recentMessageIds, ...winner.recentMessageIds])].slice(-RECENT_MESSAGE_IDS),
    createdAt: winner.createdAt.getTime() <= loser.createdAt.getTime() ? winner.createdAt : loser.createdAt,
  };
}

export interface Unified {
  profile: Profile;
  created: boolean;
  /** Profiles merged into `profile` by this call, as [loser, winner] pairs. */
  merged: Array<{ loser: string; winner: string }>;
}

/**
 * Resolves the profile for a set of identities and merges every other profile that owns
 * one of them into it, so that afterwards all the identities lead to one profile.
 * `resolved`: a profile already resolved from these identities (event-in's). When it holds
 * every one of them it owns them all — identities only ever move on to the profile a merge
 * keeps — so there is nothing to look up or stitch.
 */
export async function unifyProfiles(store: Store, identities: Identities, now: Date, resolved?: Profile): Promise<Unified> {
  if (resolved && Object.entries(identities).every(([type, value]) => Array.isArray(resolved.identities?.[type]) && resolved.identities[type].includes(value))) {
    return { profile: resolved, created: false, merged: [] };
  }
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  const resolution = await resolveProfile(store, identities, now);
  let profile = resolution.profile;
  const merged: Unified['merged'] = [];
  for (const otherId of resolution.others) {
    const other = await profiles.findOne({ _id: otherId });
    if (!other || other.mergedInto) continue;
    const [winner, loser] = chooseSurvivor(profile, other);
    profile = await stitchProfiles(store, winner._id, loser._id, now);
    merged.push({ loser: loser._id, winner: winner._id });
  }
  if (merged.length > 0) {
    // Claims the losers held are the winner's now; identities still unclaimed get claimed.
    profile = (await resolveProfile(store, identities, now)).profile;
  }
  return { profile, created: resolution.created, merged };
}
