/** Traits merging and profile stitching, on both stores. */
import { expect } from 'chai';
import {
  COLLECTIONS,
  applyProfileChanges,
  findProfile,
  ingestEvent,
  mergeTraits,
  RECENT_EVENT_TIMES,
  TraitMergeError,
  unifyProfiles,
  type IdentityDoc,
  type MergePolicy,
  type Profile,
  type Store,
} from '../../lib/index.js';
import { forEachStore } from '../support/stores.js';

const now = new Date('2026-06-01T12:00:00Z');
const later = new Date('2026-06-02T12:00:00Z');
const overwrite: MergePolicy = { default: 'overwrite', fields: {} };

async function accepted(store: Store, input: Record<string, unknown>, at = now): Promise<Profile> {
  const r = await ingestEvent(store, input, { now: at });
  if (r.status !== 'accepted') throw new Error(`event refused: ${r.reason}`);
  return r.profile;
}

describe('trait merge strategies', () => {
  const policy: MergePolicy = {
    default: 'overwrite',
    fields: { firstSource: 'keepFirst', interests: 'append', lifetimeValue: 'sum' },
  };
  it('applies each field its own strategy', () => {
    const current = { plan: 'free', firstSource: 'ad', interests: ['shoes'], lifetimeValue: 10 };
    const next = mergeTraits(current, { plan: 'pro', firstSource: 'email', interests: ['hats', 'shoes'], lifetimeValue: 5.5 }, policy);
    expect(next).to.deep.equal({ plan: 'pro', firstSource: 'ad', interests: ['shoes', 'hats'], lifetimeValue: 15.5 });
  });
  it('starts keep-first, append and sum from nothing', () => {
    expect(mergeTraits({}, { firstSource: 'email', interests: 'hats', lifetimeValue: 3 }, policy)).to.deep.equal({
      firstSource: 'email',
      interests: ['hats'],
      lifetimeValue: 3,
    });
  });
  it('refuses to sum a non-number', () => {
    expect(() => mergeTraits({}, { lifetimeValue: 'lots' }, policy)).to.throw(/summed/);
  });
  it('caps an appended list at 100 items, dropping the oldest', () => {
    let traits = {};
    for (let i = 0; i < 120; i++) traits = mergeTraits(traits, { interests: `i${i}` }, policy);
    const list = (traits as { interests: string[] }).interests;
    expect(list).to.have.length(100);
    expect(list[0]).to.equal('i20');
  });
});

describe('profiles', () => {
  forEachStore((ctx) => {
    it('merges traits and consent into the stored profile', async () => {
      const p = await accepted(ctx.store, { name: 'signed_up', email: 'a@x.io', messageId: '1' });
      const policy: MergePolicy = { default: 'overwrite', fields: { visits: 'sum' } };
      await applyProfileChanges(ctx.store, p._id, { traits: { plan: 'free', visits: 1 } }, policy, now);
      const after = await applyProfileChanges(
        ctx.store,
        p._id,
        { traits: { plan: 'pro', visits: 2 }, consent: { email: 'granted' } },
        policy,
        later,
      );
      expect(after.traits).to.deep.equal({ plan: 'pro', visits: 3 });
      expect(after.consent.email?.status).to.equal('granted');
      expect(after.aggregates.signed_up?.count).to.equal(1);
    });

    it('loses no concurrent sum', async () => {
      const p = await accepted(ctx.store, { name: 'x', userId: 'u', messageId: '1' });
      const policy: MergePolicy = { default: 'sum', fields: {} };
      await Promise.all(
        Array.from({ length: 6 }, () => applyProfileChanges(ctx.store, p._id, { traits: { points: 1 } }, policy, now)),
      );
      const stored = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: p._id });
      expect(stored?.traits.points).to.equal(6);
    });

    it('lands every one of many concurrent overwrites and sums on one profile (a burst of one person\'s events)', async () => {
      const p = await accepted(ctx.store, { name: 'x', userId: 'u', messageId: '1' });
      const policy: MergePolicy = { default: 'overwrite', fields: { visits: 'sum' } };
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => applyProfileChanges(ctx.store, p._id, { traits: { visits: 1, page: `/p/${i}` }, consent: { email: 'granted' } }, policy, now)),
      );
      const stored = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: p._id });
      expect(stored?.traits.visits).to.equal(40);
      expect(stored?.version).to.equal(p.version + 40);
    });

    it('applies a keyed merge once however often it is replayed, on the one-write and the read-merge-write paths', async () => {
      const p = await accepted(ctx.store, { name: 'x', userId: 'u', messageId: '1' });
      const sums: MergePolicy = { default: 'sum', fields: {} };
      const appends: MergePolicy = { default: 'overwrite', fields: { tags: 'append', points: 'sum' } };
      // Sequential replays, then a burst of concurrent ones with the same keys.
      for (let i = 0; i < 3; i++) await applyProfileChanges(ctx.store, p._id, { traits: { points: 5 } }, sums, now, 'merge e1');
      await Promise.all(Array.from({ length: 6 }, () => applyProfileChanges(ctx.store, p._id, { traits: { points: 5 } }, sums, now, 'merge e1')));
      await Promise.all(Array.from({ length: 6 }, () => applyProfileChanges(ctx.store, p._id, { traits: { tags: 'vip', points: 1 } }, appends, now, 'merge e2')));
      // A different key is a different event, and no key is no guard.
      await applyProfileChanges(ctx.store, p._id, { traits: { points: 5 } }, sums, now, 'merge e3');
      const last = await applyProfileChanges(ctx.store, p._id, { traits: { points: 100 } }, sums, now);
      expect(last.traits).to.deep.equal({ points: 111, tags: ['vip'] });
      expect(last.recentMessageIds).to.include.members(['merge e1', 'merge e2', 'merge e3']);
      // A replay answers with the profile as it stands.
      expect((await applyProfileChanges(ctx.store, p._id, { traits: { points: 5 } }, sums, later, 'merge e1')).traits.points).to.equal(111);
    });

    it('applies keyed merges of many people at once, some of them replays, each once, handing each caller its profile as stored', async () => {
      const people = await Promise.all(Array.from({ length: 8 }, (_, i) => accepted(ctx.store, { name: 'x', userId: `u${i}`, messageId: `m${i}` })));
      const sums: MergePolicy = { default: 'sum', fields: {} };
      // Every other person has had this event's merge already: on a store that shares the
      // writes, the batch partly misses, and each caller must settle its own outcome.
      for (const [i, p] of people.entries()) if (i % 2 === 0) await applyProfileChanges(ctx.store, p._id, { traits: { points: 1 } }, sums, now, `merge ${p._id}`);
      const handed = await Promise.all(people.map((p) => applyProfileChanges(ctx.store, p._id, { traits: { points: 1 }, consent: { email: 'granted' } }, sums, now, `merge ${p._id}`)));
      const profiles = ctx.store.collection<Profile>(COLLECTIONS.profiles);
      for (const [i, p] of people.entries()) {
        const stored = await profiles.findOne({ _id: p._id });
        expect(stored?.traits.points, p._id).to.equal(1);
        // A replay changes nothing, not even the consent it carries this time.
        expect(stored?.consent.email?.status, p._id).to.equal(i % 2 === 0 ? undefined : 'granted');
        expect(handed[i], p._id).to.deep.equal(stored);
      }
    });

    it('refuses to sum onto a trait the profile holds as a non-number, and changes nothing', async () => {
      const p = await accepted(ctx.store, { name: 'x', userId: 'u', messageId: '1' });
      await applyProfileChanges(ctx.store, p._id, { traits: { points: 'many' } }, overwrite, now);
      const sum: MergePolicy = { default: 'sum', fields: {} };
      let refused: unknown;
      await applyProfileChanges(ctx.store, p._id, { traits: { points: 1 } }, sum, now).catch((err: unknown) => (refused = err));
      expect(refused).to.be.instanceOf(TraitMergeError);
      const stored = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: p._id });
      expect(stored?.traits.points).to.equal('many');
      // A number is summed as before.
      await applyProfileChanges(ctx.store, p._id, { traits: { points: 2 } }, overwrite, now);
      expect((await applyProfileChanges(ctx.store, p._id, { traits: { points: 3 } }, sum, now)).traits.points).to.equal(5);
    });

    it('sums onto a trait the profile holds as null, as onto a missing one', async () => {
      const p = await accepted(ctx.store, { name: 'x', userId: 'u', messageId: '1' });
      await applyProfileChanges(ctx.store, p._id, { traits: { points: null } }, overwrite, now);
      const sum: MergePolicy = { default: 'sum', fields: {} };
      expect((await applyProfileChanges(ctx.store, p._id, { traits: { points: 4 } }, sum, now)).traits.points).to.equal(4);
      expect((await applyProfileChanges(ctx.store, p._id, { traits: { points: 1 } }, sum, now)).traits.points).to.equal(5);
    });

    it('merges into the profile a merge kept when the one asked for was merged away', async () => {
      const kept = await accepted(ctx.store, { name: 'signed_up', email: 'lin@example.com', messageId: 'k1' }, now);
      const gone = await accepted(ctx.store, { name: 'page', anonymousId: 'anon-9', messageId: 'a1' }, now);
      const { profile } = await unifyProfiles(ctx.store, { email: 'lin@example.com', anonymousId: 'anon-9' }, later);
      expect(profile._id).to.equal(kept._id);
      const after = await applyProfileChanges(ctx.store, gone._id, { traits: { plan: 'pro' } }, overwrite, later);
      expect(after._id).to.equal(kept._id);
      expect(after.traits.plan).to.equal('pro');
      expect((await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: gone._id }))?.traits.plan).to.equal(undefined);
    });

    it('stitches an anonymous profile into the known one when an event links them', async () => {
      const known = await accepted(ctx.store, { name: 'signed_up', email: 'ada@example.com', messageId: 'k1' }, now);
      await applyProfileChanges(ctx.store, known._id, { traits: { plan: 'pro' }, consent: { email: 'granted' } }, overwrite, now);
      const anon = await accepted(ctx.store, { name: 'page', anonymousId: 'anon-1', messageId: 'a1' }, now);
      await accepted(ctx.store, { name: 'page', anonymousId: 'anon-1', messageId: 'a2' }, later);
      await applyProfileChanges(ctx.store, anon._id, { traits: { plan: 'trial', colour: 'blue' }, consent: { sms: 'denied' } }, overwrite, now);
      expect(anon._id).to.not.equal(known._id);

      // The linking event carries both identities.
      const { profile, merged } = await unifyProfiles(ctx.store, { email: 'ada@example.com', anonymousId: 'anon-1' }, later);
      expect(profile._id).to.equal(known._id);
      expect(merged).to.deep.equal([{ loser: anon._id, winner: known._id }]);
      expect(profile.identities).to.deep.equal({ email: ['ada@example.com'], anonymousId: ['anon-1'] });
      expect(profile.traits).to.deep.equal({ plan: 'pro', colour: 'blue' });
      expect(profile.aggregates.page?.count).to.equal(2);
      expect(profile.aggregates.page?.last.getTime()).to.equal(later.getTime());
      expect(profile.aggregates.signed_up?.count).to.equal(1);
      expect(profile.consent.email?.status).to.equal('granted');
      expect(profile.consent.sms?.status).to.equal('denied');

      const loser = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: anon._id });
      expect(loser?.mergedInto).to.equal(known._id);
      const claim = await ctx.store.collection<IdentityDoc>(COLLECTIONS.identities).findOne({ _id: 'anonymousId:anon-1' });
      expect(claim?.profileId).to.equal(known._id);

      // A later event with the old anonymousId lands on the merged profile.
      const next = await accepted(ctx.store, { name: 'page', anonymousId: 'anon-1', messageId: 'a3' }, later);
      expect(next._id).to.equal(known._id);
      expect(next.aggregates.page?.count).to.equal(3);
      expect((await findProfile(ctx.store, { anonymousId: 'anon-1' }))?._id).to.equal(known._id);
    });

    it('interleaves both profiles\' recent occurrence times on a merge, newest first, capped', async () => {
      const minute = (m: number) => new Date(now.getTime() - m * 60_000);
      const known = await accepted(ctx.store, { name: 'cart_add', userId: 'u1', messageId: 'k0', timestamp: minute(20) }, now);
      await accepted(ctx.store, { name: 'cart_add', userId: 'u1', messageId: 'k1', timestamp: minute(40) }, now);
      const anon = await accepted(ctx.store, { name: 'cart_add', anonymousId: 'z', messageId: 'a0', timestamp: minute(10) }, now);
      await accepted(ctx.store, { name: 'cart_add', anonymousId: 'z', messageId: 'a1', timestamp: minute(30) }, now);
      await accepted(ctx.store, { name: 'viewed', anonymousId: 'z', messageId: 'a2', timestamp: minute(5) }, now);
      const { profile } = await unifyProfiles(ctx.store, { userId: 'u1', anonymousId: 'z' }, later);
      expect(profile._id).to.equal(known._id);
      expect(profile.aggregates.cart_add?.count).to.equal(4);
      expect(profile.aggregates.cart_add?.recent?.map((d) => d.getTime())).to.deep.equal([10, 20, 30, 40].map((m) => minute(m).getTime()));
      // An event only the loser had comes over with its list.
      expect(profile.aggregates.viewed?.recent?.map((d) => d.getTime())).to.deep.equal([minute(5).getTime()]);
      expect(anon._id).to.not.equal(known._id);
    });

    it('caps the merged recent list and folds aggregates kept before recent existed', async () => {
      const profiles = ctx.store.collection<Profile>(COLLECTIONS.profiles);
      const known = await accepted(ctx.store, { name: 'buy', userId: 'u1', messageId: 'k' }, now);
      const anon = await accepted(ctx.store, { name: 'buy', anonymousId: 'z', messageId: 'a' }, now);
      const minute = (m: number) => new Date(now.getTime() - m * 60_000);
      const full = Array.from({ length: RECENT_EVENT_TIMES }, (_, i) => minute(2 * i + 1)); // odd minutes ago
      const other = Array.from({ length: RECENT_EVENT_TIMES }, (_, i) => minute(2 * i)); // even minutes ago
      await profiles.updateOne({ _id: known._id }, { $set: { 'aggregates.buy.recent': full } });
      await profiles.updateOne({ _id: anon._id }, { $set: { 'aggregates.buy.recent': other } });
      // An aggregate from before recent was kept, on one side only.
      await profiles.updateOne({ _id: anon._id }, { $set: { 'aggregates.old': { count: 3, first: minute(900), last: minute(800) } } });
      await profiles.updateOne({ _id: known._id }, { $set: { 'aggregates.old': { count: 1, first: minute(700), last: minute(700) } } });
      const { profile } = await unifyProfiles(ctx.store, { userId: 'u1', anonymousId: 'z' }, later);
      const recent = profile.aggregates.buy?.recent?.map((d) => d.getTime());
      expect(recent).to.deep.equal(Array.from({ length: RECENT_EVENT_TIMES }, (_, i) => minute(i).getTime()));
      expect(profile.aggregates.old).to.deep.equal({ count: 4, first: minute(900), last: minute(700) });
    });

    it('completes a merge interrupted after the fold without counting twice', async () => {
      const known = await accepted(ctx.store, { name: 'buy', userId: 'u1', messageId: 'k' });
      const anon = await accepted(ctx.store, { name: 'buy', anonymousId: 'z', messageId: 'a' });
      // Simulate the crash: the fold happened (mergedFrom set, counts summed), nothing else did.
      await ctx.store.collection<Profile>(COLLECTIONS.profiles).updateOne(
        { _id: known._id },
        { $set: { 'aggregates.buy.count': 2 }, $push: { mergedFrom: anon._id }, $inc: { version: 1 } },
      );
      const { profile } = await unifyProfiles(ctx.store, { userId: 'u1', anonymousId: 'z' }, later);
      expect(profile._id).to.equal(known._id);
      expect(profile.aggregates.buy?.count).to.equal(2);
      const loser = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: anon._id });
      expect(loser?.mergedInto).to.equal(known._id);
    });

    it('leaves an unrelated profile untouched by a merge', async () => {
      const other = await accepted(ctx.store, { name: 'page', email: 'other@example.com', messageId: 'o' });
      await accepted(ctx.store, { name: 'page', email: 'ada@example.com', messageId: 'k' });
      await accepted(ctx.store, { name: 'page', anonymousId: 'anon', messageId: 'a' });
      await unifyProfiles(ctx.store, { email: 'ada@example.com', anonymousId: 'anon' }, later);
      const after = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: other._id });
      expect(after).to.deep.equal(other);
    });
  });
});
