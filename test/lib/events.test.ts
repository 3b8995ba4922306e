/** Event validation and ingestion: what is accepted, what is refused and why, on both stores. */
import { expect } from 'chai';
import {
  COLLECTIONS,
  checkEvent,
  finishEvent,
  ingestEvent,
  RECENT_EVENT_TIMES,
  RefusalNotice,
  type EventDoc,
  type IdentityDoc,
  type IngestResult,
  type Profile,
} from '../../lib/index.js';
import { forEachStore } from '../support/stores.js';

const now = new Date('2026-06-01T12:00:00Z');
const signUp = (extra: Record<string, unknown> = {}) => ({
  name: 'signed_up',
  identities: { email: 'Ada@Example.com' },
  properties: { plan: 'pro' },
  messageId: 'm-1',
  timestamp: '2026-06-01T11:59:00Z',
  ...extra,
});

function rejectedCode(result: IngestResult): string {
  if (result.status !== 'rejected') throw new Error(`expected a rejection, got ${result.status}`);
  return result.code;
}

describe('event validation', () => {
  it('normalises a well-formed event', () => {
    const r = checkEvent(signUp(), now);
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.value).to.deep.include({
      messageId: 'm-1',
      name: 'signed_up',
      identities: { email: 'ada@example.com' },
      properties: { plan: 'pro' },
    });
    expect(r.value.timestamp.toISOString()).to.equal('2026-06-01T11:59:00.000Z');
  });

  it('accepts the analytics-SDK shape: event, top-level userId/anonymousId, epoch timestamp', () => {
    const r = checkEvent({ event: 'Order Completed', userId: 'u1', anonymousId: 'a1', timestamp: now.getTime() - 1000 }, now);
    expect(r.ok && r.value.identities).to.deep.equal({ userId: 'u1', anonymousId: 'a1' });
    expect(r.ok && r.value.name).to.equal('Order Completed');
    expect(r.ok && r.value.messageId).to.match(/^gen-/);
  });

  const cases: Array<[string, unknown, string]> = [
    ['a string', 'signed_up', 'NOT_AN_OBJECT'],
    ['an array', [signUp()], 'NOT_AN_OBJECT'],
    ['null', null, 'NOT_AN_OBJECT'],
    ['no name', { identities: { email: 'a@b.c' } }, 'BAD_NAME'],
    ['a $-name', signUp({ name: '$where' }), 'BAD_NAME'],
    ['a dotted name', signUp({ name: 'a.b' }), 'BAD_NAME'],
    ['a __proto__ name', signUp({ name: '__proto__' }), 'BAD_NAME'],
    ['no identity', { name: 'x', properties: {} }, 'NO_IDENTITY'],
    ['an operator as identity', signUp({ identities: { email: { $gt: '' } } }), 'BAD_IDENTITY'],
    ['a number as identity', signUp({ identities: { userId: 42 } }), 'BAD_IDENTITY'],
    ['a $-identity type', signUp({ identities: { $where: 'x' } }), 'BAD_KEY'],
    ['a dotted identity type', signUp({ identities: { 'a.b': 'x' } }), 'BAD_KEY'],
    ['a bad email', signUp({ identities: { email: 'not an email' } }), 'BAD_IDENTITY'],
    ['a bad phone', signUp({ identities: { phone: 'call me' } }), 'BAD_IDENTITY'],
    ['a national phone number (leading 0)', signUp({ identities: { phone: '020 7946 0000' } }), 'BAD_IDENTITY'],
    ['a $-key in properties', signUp({ properties: { $set: { admin: true } } }), 'BAD_KEY'],
    ['a dotted key deep in properties', signUp({ properties: { a: [{ 'b.c': 1 }] } }), 'BAD_KEY'],
    ['a constructor key', signUp({ properties: { constructor: { prototype: { x: 1 } } } }), 'BAD_KEY'],
    ['a function value', signUp({ properties: { f: () => 1 } }), 'BAD_VALUE'],
    ['deep nesting', signUp({ properties: JSON.parse('{"a":'.repeat(20) + '1' + '}'.repeat(20)) }), 'TOO_DEEP'],
    ['an oversize payload', signUp({ properties: { blob: 'x'.repeat(15000), more: 'y'.repeat(15000), evenmore: 'z'.repeat(15000), last: 'w'.repeat(15000), extra: 'v'.repeat(15000) } }), 'TOO_LARGE'],
    ['a huge string', signUp({ properties: { s: 'x'.repeat(20000) } }), 'TOO_LARGE'],
    ['a huge array', signUp({ properties: { a: new Array(2000).fill(1) } }), 'TOO_LARGE'],
    ['a bad timestamp', signUp({ timestamp: 'yesterday-ish' }), 'BAD_TIMESTAMP'],
    ['a far-future timestamp', signUp({ timestamp: '2030-01-01T00:00:00Z' }), 'BAD_TIMESTAMP'],
    ['a timestamp object', signUp({ timestamp: { $gt: 0 } }), 'BAD_TIMESTAMP'],
    ['an object messageId', signUp({ messageId: { $ne: null } }), 'BAD_MESSAGE_ID'],
  ];
  for (const [label, input, code] of cases) {
    it(`rejects ${label} with ${code} and a reason`, () => {
      const r = checkEvent(input, now);
      expect(r.ok).to.equal(false);
      if (r.ok) return;
      expect(r.code).to.equal(code);
      expect(r.reason).to.be.a('string').with.length.greaterThan(5);
    });
  }

  it('does not let a __proto__ key reach any prototype', () => {
    const input = JSON.parse('{"name":"x","identities":{"userId":"u"},"properties":{"__proto__":{"polluted":true}}}');
    const r = checkEvent(input, now);
    expect(r.ok).to.equal(false);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });
});

describe('refusal warnings under load', () => {
  it('warns at the first refusal, then at most once an interval with the count since, whether or not the refusals flapped', () => {
    const notice = new RefusalNotice(60_000);
    expect(notice.refuse(0)).to.deep.equal({ kind: 'busy' });
    // Flapping at the limit: a refusal every 2 ms for the rest of the minute is not told.
    const told: unknown[] = [];
    for (let at = 2; at < 60_000; at += 2) {
      const warning = notice.refuse(at);
      if (warning) told.push(warning);
    }
    expect(told).to.deep.equal([]);
    expect(notice.refuse(60_000)).to.deep.equal({ kind: 'still-busy', refused: 30_000 });
    expect(notice.refuse(60_001)).to.equal(null);
    // The untold one is told with the next, however long after.
    expect(notice.refuse(500_000)).to.deep.equal({ kind: 'still-busy', refused: 2 });
    // A lone refusal after a quiet interval is a new episode.
    expect(notice.refuse(600_000)).to.deep.equal({ kind: 'busy' });
  });
});

describe('event ingestion', () => {
  forEachStore((ctx) => {
    it('records the event, creates the profile and counts the event on it', async () => {
      const r = await ingestEvent(ctx.store, signUp(), { now });
      expect(r.status).to.equal('accepted');
      if (r.status !== 'accepted') return;
      expect(r.created).to.equal(true);
      expect(r.profile.identities).to.deep.equal({ email: ['ada@example.com'] });
      expect(r.profile.aggregates.signed_up?.count).to.equal(1);
      expect(r.profile.aggregates.signed_up?.first.toISOString()).to.equal('2026-06-01T11:59:00.000Z');
      const stored = await ctx.store.collection<EventDoc>(COLLECTIONS.events).findOne({ _id: 'm-1' });
      expect(stored).to.include({ status: 'processed', profileId: r.profile._id, name: 'signed_up' });
    });

    it('rejects a duplicate messageId and counts the event once', async () => {
      const first = await ingestEvent(ctx.store, signUp(), { now });
      const again = await ingestEvent(ctx.store, signUp({ properties: { plan: 'other' } }), { now });
      expect(rejectedCode(again)).to.equal('DUPLICATE');
      const profile = await ctx.store
        .collection<Profile>(COLLECTIONS.profiles)
        .findOne({ _id: first.status === 'accepted' ? first.profile._id : '' });
      expect(profile?.aggregates.signed_up?.count).to.equal(1);
    });

    it('finishes an event whose first attempt died after the claim, counting it once', async () => {
      // First attempt: claimed and counted, then the process died before marking it processed.
      const first = await ingestEvent(ctx.store, signUp(), { now });
      if (first.status !== 'accepted') throw new Error('setup failed');
      await ctx.store
        .collection<EventDoc>(COLLECTIONS.events)
        .updateOne({ _id: 'm-1' }, { $set: { status: 'received', leaseUntil: new Date(now.getTime() - 1) } });
      const retry = await ingestEvent(ctx.store, signUp(), { now });
      expect(retry.status).to.equal('accepted');
      if (retry.status !== 'accepted') return;
      expect(retry.profile._id).to.equal(first.profile._id);
      expect(retry.profile.aggregates.signed_up?.count).to.equal(1);
      // While the lease runs, a concurrent retry is told to come back: it is not done yet.
      await ctx.store
        .collection<EventDoc>(COLLECTIONS.events)
        .updateOne({ _id: 'm-1' }, { $set: { status: 'received', leaseUntil: new Date(now.getTime() + 60_000) } });
      expect(rejectedCode(await ingestEvent(ctx.store, signUp(), { now }))).to.equal('IN_PROGRESS');
    });

    it("holds the claim for the caller's own work: a retry after a crash in it is not a duplicate", async () => {
      // An event-in took the event, then the process died before it had enrolled the profile.
      const first = await ingestEvent(ctx.store, signUp(), { now, keepClaim: true, leaseMs: 30_000 });
      if (first.status !== 'accepted') throw new Error('setup failed');
      expect(await ctx.store.collection<EventDoc>(COLLECTIONS.events).findOne({ _id: 'm-1' })).to.include({ status: 'received' });
      // A webhook sender retries at once: try again later, not "already received".
      expect(rejectedCode(await ingestEvent(ctx.store, signUp(), { now: new Date(now.getTime() + 5_000), keepClaim: true }))).to.equal('IN_PROGRESS');
      // Once the dead taker's lease has run out, the retry takes the event over, counted once.
      const retry = await ingestEvent(ctx.store, signUp(), { now: new Date(now.getTime() + 31_000), keepClaim: true });
      expect(retry.status).to.equal('accepted');
      if (retry.status !== 'accepted') return;
      expect(retry.profile.aggregates.signed_up?.count).to.equal(1);
      await finishEvent(ctx.store, 'm-1', retry.profile._id);
      expect(rejectedCode(await ingestEvent(ctx.store, signUp(), { now: new Date(now.getTime() + 120_000) }))).to.equal('DUPLICATE');
    });

    it('finds the same profile by any normalised form of its identities', async () => {
      const a = await ingestEvent(ctx.store, signUp({ messageId: 'a', identities: { email: 'ada@example.com', phone: '+44 20 7946 0000' } }), { now });
      // The same number spelt without + or with 00 is the same identity (E.164).
      const b = await ingestEvent(ctx.store, signUp({ messageId: 'b', name: 'opened', identities: { phone: '0044 20 7946-0000' } }), { now });
      expect(a.status === 'accepted' && b.status === 'accepted').to.equal(true);
      if (a.status !== 'accepted' || b.status !== 'accepted') return;
      expect(b.profile._id).to.equal(a.profile._id);
      expect(b.created).to.equal(false);
      expect(Object.keys(b.profile.aggregates).sort()).to.deep.equal(['opened', 'signed_up']);
    });

    it('keeps the times of the latest occurrences per event, newest first, capped, counted once', async () => {
      const at = (minutes: number) => new Date(now.getTime() - minutes * 60_000).toISOString();
      // Out of order on purpose: the list follows the events' own timestamps.
      const minutesAgo = [30, 10, 50, 20, 40];
      for (const [i, m] of minutesAgo.entries()) {
        await ingestEvent(ctx.store, { name: 'cart_add', userId: 'u', messageId: `c${i}`, timestamp: at(m) }, { now });
      }
      // A retry of an event already counted changes nothing.
      await ingestEvent(ctx.store, { name: 'cart_add', userId: 'u', messageId: 'c0', timestamp: at(30) }, { now });
      let profile = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({});
      const recent = profile?.aggregates.cart_add?.recent ?? [];
      expect(recent.map((d) => d.toISOString())).to.deep.equal([10, 20, 30, 40, 50].map(at));
      expect(profile?.aggregates.cart_add?.count).to.equal(5);

      for (let i = 0; i < RECENT_EVENT_TIMES + 5; i++) {
        await ingestEvent(ctx.store, { name: 'cart_add', userId: 'u', messageId: `d${i}`, timestamp: at(1000 - i) }, { now });
      }
      profile = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({});
      const capped = profile?.aggregates.cart_add?.recent ?? [];
      expect(capped).to.have.length(RECENT_EVENT_TIMES);
      expect(capped[0]?.toISOString()).to.equal(at(10));
      const times = capped.map((d) => d.getTime());
      expect(times).to.deep.equal([...times].sort((a, b) => b - a));
      expect(profile?.aggregates.cart_add?.count).to.equal(5 + RECENT_EVENT_TIMES + 5);
    });

    it('hands back the profile as the store holds it once the event is counted', async () => {
      const at = (minutes: number) => new Date(now.getTime() - minutes * 60_000).toISOString();
      const profiles = ctx.store.collection<Profile>(COLLECTIONS.profiles);
      // A new person, the same event later and earlier than the first, another event, and a
      // retry of one whose first attempt died after counting it (so it is not counted again).
      const events = [
        { name: 'cart_add', userId: 'h', messageId: 'h1', timestamp: at(30) },
        { name: 'cart_add', userId: 'h', messageId: 'h2', timestamp: at(10) },
        { name: 'cart_add', userId: 'h', messageId: 'h3', timestamp: at(50) },
        { name: 'viewed', userId: 'h', messageId: 'h4', timestamp: at(5) },
        { name: 'cart_add', userId: 'h', messageId: 'h2', timestamp: at(10) },
      ];
      for (const [i, event] of events.entries()) {
        if (i === 4) {
          await ctx.store.collection<EventDoc>(COLLECTIONS.events).updateOne({ _id: 'h2' }, { $set: { status: 'received', leaseUntil: new Date(0) } });
        }
        const r = await ingestEvent(ctx.store, event, { now: new Date(now.getTime() + i) });
        if (r.status !== 'accepted') throw new Error(`event ${i}: ${r.status}`);
        expect(r.profile, `after event ${i}`).to.deep.equal(await profiles.findOne({ _id: r.profile._id }));
      }
      const last = await profiles.findOne({});
      expect(last?.aggregates.cart_add?.count).to.equal(3);
      expect(last?.aggregates.cart_add?.first.toISOString()).to.equal(at(50));
      expect(last?.aggregates.cart_add?.last.toISOString()).to.equal(at(10));
    });

    it('creates one profile when events for a new person race', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          ingestEvent(ctx.store, { name: 'page', identities: { userId: 'racer' }, messageId: `r${i}` }, { now }),
        ),
      );
      const ids = new Set(results.map((r) => (r.status === 'accepted' ? r.profile._id : 'rejected')));
      expect([...ids]).to.have.length(1);
      expect(await ctx.store.collection<Profile>(COLLECTIONS.profiles).count({})).to.equal(1);
      const profile = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({});
      expect(profile?.aggregates.page?.count).to.equal(20);
    });

    it('rejects bad input without changing anything stored', async () => {
      await ingestEvent(ctx.store, signUp(), { now });
      const profiles = ctx.store.collection<Profile>(COLLECTIONS.profiles);
      const before = await profiles.findOne({});
      const bad = [
        signUp({ messageId: 'x1', identities: { email: { $gt: '' } } }),
        signUp({ messageId: 'x2', properties: { $inc: { 'aggregates.signed_up.count': 100 } } }),
        signUp({ messageId: 'x3', name: 'aggregates.signed_up' }),
        signUp({ messageId: 'x4', timestamp: 'never' }),
        { messageId: 'x5', name: 'signed_up', identities: { email: 'ada@example.com', userId: ['array'] } },
      ];
      for (const input of bad) expect((await ingestEvent(ctx.store, input, { now })).status).to.equal('rejected');
      expect(await profiles.findOne({})).to.deep.equal(before);
      expect(await profiles.count({})).to.equal(1);
      expect(await ctx.store.collection<EventDoc>(COLLECTIONS.events).count({})).to.equal(1);
      expect(await ctx.store.collection<IdentityDoc>(COLLECTIONS.identities).count({})).to.equal(1);
    });

    it('cannot reach another person through an operator-shaped identity', async () => {
      await ingestEvent(ctx.store, signUp({ identities: { email: 'victim@example.com' } }), { now });
      const r = await ingestEvent(ctx.store, { name: 'probe', identities: { email: { $gt: '' } }, messageId: 'p' }, { now });
      expect(rejectedCode(r)).to.equal('BAD_IDENTITY');
      // Even as a string, "{$gt:''}" is only a literal value: it matches nobody.
      const literal = await ingestEvent(ctx.store, { name: 'probe', identities: { userId: '{"$gt":""}' }, messageId: 'q' }, { now });
      expect(literal.status === 'accepted' && literal.created).to.equal(true);
      expect(await ctx.store.collection<Profile>(COLLECTIONS.profiles).count({})).to.equal(2);
    });
  });
});
