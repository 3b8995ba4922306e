/**
 * Finding (or creating) the profile an event belongs to, from its identities.
 *
 * An identity is claimed by inserting `{_id: "type:value", profileId}`; the insert is the
 * atomic step, so two events racing for a new person end on one profile. The profile
 * document is written after its first claim with an upsert, so a crash between the two
 * leaves a claim whose profile the next event creates.
 */
import { DuplicateKeyError, type Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { identityKey, rankedTypes, type Identities } from './identities.js';
import { newProfileId, profileSeed, type IdentityDoc, type Profile } from './profile.js';

export interface Resolution {
  profile: Profile;
  created: boolean;
  /** Other live profiles that own some of the identities: candidates for profile-merge. */
  others: string[];
}

const MAX_ATTEMPTS = 5;
const MAX_MERGE_HOPS = 16;

export async function resolveProfile(store: Store, identities: Identities, at: Date): Promise<Resolution> {
  const types = rankedTypes(identities);
  const claims = store.collection<IdentityDoc>(COLLECTIONS.identities);
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const owners = await ownersOf(store, identities, types);
    const first = owners.find((o) => o.profileId !== undefined);
    let primary = first?.profileId;
    let created = false;
    if (!primary) {
      const strongest = types[0]!;
      const candidate = newProfileId();
      try {
        await claims.insertOne(claimDoc(strongest, identities[strongest]!, candidate, at));
      } catch (err) {
        if (err instanceof DuplicateKeyError) continue; // another event claimed it first: resolve again
        throw err;
      }
      primary = candidate;
      created = true;
    }
    const others = new Set<string>();
    const mine: Record<string, string> = {};
    for (const { type, profileId } of owners) {
      const value = identities[type]!;
      // The claim just inserted for a new profile is its own: claiming it again could only fail
      // as a duplicate and read it back (no merge can move it, as its profile is not written yet).
      if (profileId === primary || (created && type === types[0])) {
        mine[type] = value;
        continue;
      }
      if (profileId !== undefined) {
        others.add(profileId);
        continue;
      }
      const owner = await claim(store, type, value, primary, at);
      if (owner === primary) mine[type] = value;
      else others.add(owner);
    }
    // A returning person's profile, read while following the claims, usually holds every identity already: nothing to write.
    const known = first?.profile;
    if (known && Object.entries(mine).every(([type, value]) => known.identities[type]?.includes(value))) {
      others.delete(primary);
      return { profile: known, created, others: [...others] };
    }
    if (created) {
      // A new person: the profile goes in whole, an insert that shares a round trip with
      // other events'. An event that found the new claim first may have written it already:
      // then the upsert below adds to what that one wrote.
      const fresh: Profile = { _id: primary, ...profileSeed(at), identities: listed(mine), updatedAt: at };
      try {
        await profiles.insertOne(fresh);
        others.delete(primary);
        return { profile: fresh, created, others: [...others] };
      } catch (err) {
        if (!(err instanceof DuplicateKeyError)) throw err;
      }
    }
    const addToSet: Record<string, unknown> = {};
    for (const [type, value] of Object.entries(mine)) addToSet[`identities.${type}`] = value;
    const profile = await profiles.findOneAndUpdate(
      { _id: primary },
      {
        $setOnInsert: profileSeed(at),
        $set: { updatedAt: at },
        ...(Object.keys(addToSet).length > 0 ? { $addToSet: addToSet } : {}),
      },
      { upsert: true, returnDocument: 'after' },
    );
    if (!profile) throw new Error(`profile ${primary} vanished while it was being resolved`);
    if (profile.mergedInto) continue; // merged away under us: the claims now lead to the winner
    others.delete(primary);
    return { profile, created, others: [...others] };
  }
  throw new Error('could not resolve a profile: its identities kept changing owner (merges racing)');
}

/** Claims an identity for `profileId`, or returns the profile that already owns it. */
async function claim(store: Store, type: string, value: string, profileId: string, at: Date): Promise<string> {
  const claims = store.collection<IdentityDoc>(COLLECTIONS.identities);
  try {
    await claims.insertOne(claimDoc(type, value, profileId, at));
    return profileId;
  } catch (err) {
    if (!(err instanceof DuplicateKeyError)) throw err;
    const existing = await claims.findOne({ _id: identityKey(type, value) });
    return existing ? followMerges(store, existing.profileId) : profileId;
  }
}

function listed(identities: Record<string, string>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(identities).map(([type, value]) => [type, [value]]));
}

/** The document that gives an identity to a profile: its `_id` is the identity, so one profile holds it. */
export function claimDoc(type: string, value: string, profileId: string, at: Date): IdentityDoc {
  return { _id: identityKey(type, value), type, value, profileId, at };
}

/** The owner of each identity, strongest identity first, with its document when it has one; merged profiles are followed. */
async function ownersOf(
  store: Store,
  identities: Identities,
  types: string[],
): Promise<Array<{ type: string; profileId: string | undefined; profile?: Profile | null }>> {
  const keys = types.map((t) => identityKey(t, identities[t]!));
  const found = new Map<string, string>();
  for await (const doc of store.collection<IdentityDoc>(COLLECTIONS.identities).find({ _id: { $in: keys } })) {
    found.set(doc._id, doc.profileId);
  }
  const live = new Map<string, Promise<{ id: string; profile: Profile | null }>>();
  const out: Array<{ type: string; profileId: string | undefined; profile?: Profile | null }> = [];
  for (let i = 0; i < types.length; i++) {
    const owner = found.get(keys[i]!);
    if (owner === undefined) {
      out.push({ type: types[i]!, profileId: undefined });
      continue;
    }
    if (!live.has(owner)) live.set(owner, followToLive(store, owner));
    const { id, profile } = await live.get(owner)!;
    out.push({ type: types[i]!, profileId: id, profile });
  }
  return out;
}

/** The live profile that `profileId` was merged into (itself when it was not merged). */
export async function followMerges(store: Store, profileId: string): Promise<string> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  let current = profileId;
  for (let hop = 0; hop < MAX_MERGE_HOPS; hop++) {
    const doc = await profiles.findOne({ _id: current }, { projection: { mergedInto: 1 } });
    if (!doc?.mergedInto) return current;
    current = doc.mergedInto;
  }
  throw new Error(`profile ${profileId} has a merge chain longer than ${MAX_MERGE_HOPS}`);
}

/** As followMerges, reading whole documents: the live id, and its profile (null when a claim's profile was never written). */
async function followToLive(store: Store, profileId: string): Promise<{ id: string; profile: Profile | null }> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  let current = profileId;
  for (let hop = 0; hop < MAX_MERGE_HOPS; hop++) {
    const doc = await profiles.findOne({ _id: current });
    if (!doc?.mergedInto) return { id: current, profile: doc };
    current = doc.mergedInto;
  }
  throw new Error(`profile ${profileId} has a merge chain longer than ${MAX_MERGE_HOPS}`);
}

/** The live profile `profileId` leads to (itself, or the one it was merged into); null when there is none. */
export async function findLiveProfile(store: Store, profileId: string): Promise<Profile | null> {
  return (await followToLive(store, profileId)).profile;
}

export async function findProfile(store: Store, identities: Identities): Promise<Profile | null> {
  const types = rankedTypes(identities);
  const owners = await ownersOf(store, identities, types);
  return owners.find((o) => o.profileId !== undefined)?.profile ?? null;
}
