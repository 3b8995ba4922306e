/**
 * Segment rules answer the same on the store as in process: for every op, every group shape
 * and the behaviour windows, the store query and profileMatches both return exactly the ids
 * written here by hand, on both adapters, over fixtures that sit on the boundaries.
 */
import { expect } from 'chai';
import {
  COLLECTIONS,
  compileSegment,
  describeSegment,
  ingestEvent,
  profileMatches,
  type EventAggregate,
  type Profile,
  type SegmentRule,
  type SegmentRules,
} from '../../lib/index.js';
import type { JsonObject } from '../../lib/validate/document.js';
import { all as drain, forEachStore, profileDoc } from '../support/stores.js';

const now = new Date('2026-06-15T12:00:00.000Z');
const at = (iso: string): Date => new Date(iso);

const all = (...rules: SegmentRules['rules']): SegmentRules => ({ match: 'all', rules });
const any = (...rules: SegmentRules['rules']): SegmentRules => ({ match: 'any', rules });

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

interface FixtureParts {
  /** Traits as stored: JSON, except that a date trait written by code is a Date. */
  traits?: Record<string, unknown>;
  consent?: Profile['consent'];
  aggregates?: Record<string, EventAggregate>;
  createdAt?: Date;
  updatedAt?: Date;
  mergedInto?: string;
}

function fixture(id: string, parts: FixtureParts = {}): Profile {
  return profileDoc(id, {
    traits: (parts.traits ?? {}) as JsonObject,
    consent: parts.consent ?? {},
    aggregates: parts.aggregates ?? {},
    createdAt: parts.createdAt ?? at('2026-03-07T12:00:00.000Z'), // 100 days before now
    updatedAt: parts.updatedAt ?? at('2026-04-26T12:00:00.000Z'), // 50 days before now
    ...(parts.mergedInto === undefined ? {} : { mergedInto: parts.mergedInto }),
  });
}

const aggregate = (count: number, first: string, last: string, recent?: string[]): EventAggregate => ({
  count,
  first: at(first),
  last: at(last),
  ...(recent ? { recent: recent.map(at) } : {}),
});

/** 50 occurrences in the last day: the most a profile keeps. */
const FIFTY_TODAY = Array.from({ length: 50 }, (_, i) => new Date(at('2026-06-15T00:00:00.000Z').getTime() - i * 60_000).toISOString());

const FIXTURES: Profile[] = [
  // Strings, lists, nested paths.
  fixture('pro', {
    traits: { plan: 'pro', country: 'DE', tags: ['vip', 'beta'], address: { country: 'DE', city: 'Berlin' } },
    createdAt: at('2026-06-14T12:00:00.000Z'),
    updatedAt: at('2026-06-15T06:00:00.000Z'),
  }),
  fixture('pro-upper', { traits: { plan: 'PRO' } }),
  fixture('pro-plus', { traits: { plan: 'Pro Plus', tags: ['beta'] } }),
  fixture('plan-list', { traits: { plan: ['pro', 'team'], tags: [] } }),
  fixture('free', { traits: { plan: 'free', country: 'FR', address: { country: 'FR' } } }),
  fixture('nulls', { traits: { plan: null, tags: null, address: null, age: null, score: null, signupDate: null, lastOrderAt: null } }),
  fixture('empty'),
  fixture('nested', { traits: { address: { country: 'DE', geo: { zip: '10115' } } } }),
  // Numbers and numeric strings.
  fixture('age-34', { traits: { age: 34, score: 50 } }),
  fixture('age-34-text', { traits: { age: '34', score: '50' } }),
  fixture('age-17', { traits: { age: 17.5, score: 40 } }),
  fixture('age-35', { traits: { age: 35, score: 60 } }),
  fixture('score-low', { traits: { score: 39.99, scores: [1, 100] } }),
  fixture('flags', { traits: { newsletter: true, vip: false } }),
  // A date trait in every form it may arrive in, all around 2026-05-01.
  fixture('date-obj', { traits: { signupDate: at('2026-05-01T00:00:00.000Z') } }),
  fixture('date-only', { traits: { signupDate: '2026-05-01' } }),
  fixture('date-iso', { traits: { signupDate: '2026-05-01T00:00:00.000Z' } }),
  fixture('date-secs', { traits: { signupDate: '2026-05-31T23:59:59Z' } }),
  fixture('date-offset', { traits: { signupDate: '2026-05-01T10:00:00+02:00' } }),
  fixture('date-word', { traits: { signupDate: 'soon' } }),
  fixture('date-number', { traits: { signupDate: 20260501 } }),
  fixture('date-list', { traits: { signupDate: ['2026-05-01'] } }),
  // lastOrderAt around the 7-day window, which starts at 2026-06-08T12:00Z.
  fixture('order-2d', { traits: { lastOrderAt: at('2026-06-13T12:00:00.000Z') } }),
  fixture('order-6d-text', { traits: { lastOrderAt: '2026-06-09T12:00:00.000Z' } }),
  fixture('order-8d', { traits: { lastOrderAt: at('2026-06-07T12:00:00.000Z') } }),
  fixture('order-future', { traits: { lastOrderAt: at('2026-06-16T12:00:00.000Z') } }),
  fixture('order-day-in', { traits: { lastOrderAt: '2026-06-09' } }),
  fixture('order-day-out', { traits: { lastOrderAt: '2026-06-08' } }),
  fixture('order-secs-edge', { traits: { lastOrderAt: '2026-06-08T12:00:00Z' } }),
  // Consent.
  fixture('consent-yes', {
    consent: { email: { status: 'granted', at: at('2026-06-01T00:00:00.000Z') }, sms: { status: 'denied', at: at('2026-06-01T00:00:00.000Z') } },
  }),
  fixture('consent-no', { consent: { email: { status: 'denied', at: at('2026-06-01T00:00:00.000Z') } } }),
  // Behaviour.
  fixture('cart-3', {
    aggregates: {
      cart_add: aggregate(3, '2026-06-05T12:00:00.000Z', '2026-06-14T12:00:00.000Z', [
        '2026-06-14T12:00:00.000Z',
        '2026-06-13T12:00:00.000Z',
        '2026-06-05T12:00:00.000Z',
      ]),
    },
  }),
  fixture('cart-2-edge', {
    aggregates: {
      cart_add: aggregate(2, '2026-06-07T12:00:00.000Z', '2026-06-09T12:00:00.000Z', ['2026-06-09T12:00:00.000Z', '2026-06-07T12:00:00.000Z']),
    },
  }),
  fixture('cart-50', {
    aggregates: {
      cart_add: aggregate(120, '2026-01-01T00:00:00.000Z', '2026-06-15T00:00:00.000Z', FIFTY_TODAY),
      purchase: aggregate(1, '2026-06-13T12:00:00.000Z', '2026-06-13T12:00:00.000Z', ['2026-06-13T12:00:00.000Z']),
    },
  }),
  // Counted before `recent` was kept: answers counts and `did`, not windowed counts.
  fixture('cart-old', { aggregates: { cart_add: aggregate(5, '2026-03-01T00:00:00.000Z', '2026-06-14T12:00:00.000Z') } }),
  fixture('purchase-29d', {
    aggregates: { purchase: aggregate(1, '2026-05-17T12:00:00.000Z', '2026-05-17T12:00:00.000Z', ['2026-05-17T12:00:00.000Z']) },
  }),
  fixture('purchase-31d', {
    aggregates: {
      purchase: aggregate(4, '2026-03-01T00:00:00.000Z', '2026-05-15T12:00:00.000Z', [
        '2026-05-15T12:00:00.000Z',
        '2026-05-01T00:00:00.000Z',
        '2026-04-01T00:00:00.000Z',
        '2026-03-01T00:00:00.000Z',
      ]),
    },
  }),
  // Ages of the profile itself: created exactly 3 days ago, and a minute more.
  fixture('new-3d', { createdAt: at('2026-06-12T12:00:00.000Z'), updatedAt: now }),
  fixture('new-3d-1m', { createdAt: at('2026-06-12T11:59:00.000Z'), updatedAt: at('2026-06-12T11:59:00.000Z') }),
  // Merged away: matches every rule below on its data, and must never be in a segment.
  fixture('merged', {
    mergedInto: 'pro',
    traits: {
      plan: 'pro',
      country: 'FR',
      tags: ['vip'],
      address: { country: 'DE', city: 'Berlin', geo: { zip: '1' } },
      age: 34,
      score: 50,
      scores: [50],
      newsletter: true,
      vip: false,
      signupDate: at('2026-05-01T00:00:00.000Z'),
      lastOrderAt: at('2026-06-14T00:00:00.000Z'),
    },
    consent: { email: { status: 'granted', at: at('2026-06-01T00:00:00.000Z') } },
    aggregates: { cart_add: aggregate(60, '2026-01-01T00:00:00.000Z', '2026-06-15T00:00:00.000Z', FIFTY_TODAY) },
    createdAt: at('2026-06-15T00:00:00.000Z'),
    updatedAt: at('2026-06-15T00:00:00.000Z'),
  }),
];

const LIVE = FIXTURES.filter((p) => p.mergedInto === undefined).map((p) => p._id);
/** Every live profile but these. */
const except = (...ids: string[]): string[] => {
  for (const id of ids) if (!LIVE.includes(id)) throw new Error(`no live fixture ${id}`);
  return LIVE.filter((id) => !ids.includes(id));
};

// ---------------------------------------------------------------------------------------------
// Cases: rules and the ids they must select, by hand
// ---------------------------------------------------------------------------------------------

const trait = (field: string, op: Extract<SegmentRule, { kind: 'trait' }>['op'], value?: unknown, value2?: unknown): SegmentRule =>
  ({ kind: 'trait', field, op, ...(value === undefined ? {} : { value }), ...(value2 === undefined ? {} : { value2 }) }) as SegmentRule;
const consent = (channel: string, granted: boolean): SegmentRule => ({ kind: 'consent', channel, granted });
const event = (name: string, op: 'atLeast' | 'atMost' | 'did' | 'notDid', count?: number, days?: number): SegmentRule => ({
  kind: 'event',
  event: name,
  op,
  ...(count === undefined ? {} : { count }),
  ...(days === undefined ? {} : { days }),
});
const seen = (which: 'first' | 'last', op: 'withinLastDays' | 'notWithinLastDays', days: number): SegmentRule => ({ kind: 'seen', which, op, days });

interface Case {
  why: string;
  rules: SegmentRules;
  expected: string[];
}

const one = (rule: SegmentRule, expected: string[], why = ''): Case => ({ why, rules: all(rule), expected });

const CASES: Case[] = [
  // eq / ne / in / nin: a list matches when an item does; a number never equals its text.
  one(trait('plan', 'eq', 'pro'), ['pro', 'plan-list'], 'a list holding the value matches; case matters'),
  one(trait('plan', 'ne', 'pro'), except('pro', 'plan-list'), 'missing and null are not equal'),
  one(trait('plan', 'in', ['free', 'PRO']), ['free', 'pro-upper']),
  one(trait('plan', 'nin', ['pro', 'free']), except('pro', 'plan-list', 'free')),
  one(trait('plan', 'in', [null, 'free']), except('pro', 'pro-upper', 'pro-plus', 'plan-list'), 'null in a list selects missing and null'),
  one(trait('age', 'eq', 34), ['age-34'], 'the number, not the numeric string'),
  one(trait('age', 'eq', '34'), ['age-34-text'], 'the numeric string, not the number'),
  one(trait('newsletter', 'eq', true), ['flags']),
  one(trait('vip', 'eq', false), ['flags'], 'false is a value, not a missing one'),
  one(trait('vip', 'ne', false), except('flags')),
  one(trait('address.country', 'eq', 'DE'), ['pro', 'nested'], 'a nested path'),
  // contains: a substring of a single string, any case; an item of a list, exactly.
  one(trait('plan', 'contains', 'pro'), ['pro', 'pro-upper', 'pro-plus', 'plan-list']),
  one(trait('plan', 'contains', 'team'), ['plan-list']),
  one(trait('plan', 'contains', 'tea'), [], 'an item of a list must equal the value'),
  one(trait('tags', 'contains', 'vip'), ['pro']),
  // exists / notExists: null counts as not set, an empty list as set.
  one(trait('plan', 'exists'), ['pro', 'pro-upper', 'pro-plus', 'plan-list', 'free']),
  one(trait('plan', 'notExists'), except('pro', 'pro-upper', 'pro-plus', 'plan-list', 'free')),
  one(trait('tags', 'exists'), ['pro', 'pro-plus', 'plan-list']),
  one(trait('address.geo.zip', 'exists'), ['nested'], 'a path two levels deep'),
  one(trait('address.city', 'notExists'), except('pro'), 'a path under null, a string or nothing is not set'),
  // Ordering: numbers with numbers, strings with strings.
  one(trait('age', 'lt', 18), ['age-17']),
  one(trait('age', 'lte', 34), ['age-34', 'age-17'], 'not the numeric string, not null'),
  one(trait('age', 'gt', 34), ['age-35']),
  one(trait('age', 'gte', 34), ['age-34', 'age-35']),
  one(trait('country', 'lt', 'E'), ['pro'], 'strings in text order'),
  one(trait('country', 'gte', 'E'), ['free']),
  one(trait('score', 'between', 40, 60), ['age-34', 'age-17', 'age-35'], 'both bounds included; 39.99 and "50" out'),
  one(trait('score', 'between', '40', '60'), ['age-34-text'], 'string bounds compare strings only'),
  one(trait('scores', 'between', 40, 60), ['score-low'], 'a list with an item >= 40 and an item <= 60, as MongoDB reads it'),
  // Dates: a Date, a date-only string, the toISOString form and the whole-second form.
  one(trait('signupDate', 'before', '2026-05-02'), ['date-obj', 'date-only', 'date-iso'], 'other text, numbers and lists are not dates'),
  one(trait('signupDate', 'before', '2026-05-01'), [], 'midnight is not before midnight, in any form'),
  one(trait('signupDate', 'after', '2026-05-01'), ['date-secs'], 'midnight is not after midnight'),
  one(trait('signupDate', 'after', '2026-04-30T23:59:59.999Z'), ['date-obj', 'date-only', 'date-iso', 'date-secs']),
  one(trait('signupDate', 'before', '2026-05-31T23:59:59.500Z'), ['date-obj', 'date-only', 'date-iso', 'date-secs'], 'a whole second is before its half'),
  one(trait('signupDate', 'after', '2026-05-31T23:59:59Z'), [], 'a whole second is not after itself'),
  one(trait('signupDate', 'after', '2026-05-31T23:59:58.500Z'), ['date-secs']),
  one(trait('signupDate', 'after', '2026-05-01T09:00:00+01:00'), ['date-secs'], 'text with a zone offset is not compared as a date'),
  one(trait('lastOrderAt', 'withinLastDays', 7), ['order-2d', 'order-6d-text', 'order-day-in', 'order-secs-edge'], 'from exactly 7×24 h ago up to now'),
  one(trait('lastOrderAt', 'withinLastDays', 3), ['order-2d']),
  // Consent.
  one(consent('email', true), ['consent-yes']),
  one(consent('email', false), except('consent-yes'), 'denied and missing are not granted'),
  one(consent('sms', true), []),
  // Behaviour.
  one(event('cart_add', 'atLeast', 2, 7), ['cart-3', 'cart-50'], 'did cart_add at least 2 times in the last 7 days'),
  one(event('cart_add', 'atLeast', 1, 7), ['cart-3', 'cart-2-edge', 'cart-50'], 'needs the kept times'),
  one(event('cart_add', 'atLeast', 50, 1), ['cart-50'], 'all 50 kept times in the window'),
  one(event('cart_add', 'atLeast', 3), ['cart-3', 'cart-50', 'cart-old'], 'over all time, by the count'),
  one(event('cart_add', 'atMost', 2), except('cart-3', 'cart-50', 'cart-old'), 'never counts as at most'),
  one(event('cart_add', 'atMost', 0), except('cart-3', 'cart-2-edge', 'cart-50', 'cart-old')),
  one(event('cart_add', 'atMost', 1, 7), except('cart-3', 'cart-50')),
  one(event('cart_add', 'did'), ['cart-3', 'cart-2-edge', 'cart-50', 'cart-old']),
  one(event('cart_add', 'did', undefined, 5), ['cart-3', 'cart-50', 'cart-old'], 'by the last time, kept times or not'),
  one(event('purchase', 'notDid', undefined, 30), except('purchase-29d', 'cart-50'), 'has not done purchase in 30 days'),
  one(event('purchase', 'notDid'), except('purchase-29d', 'purchase-31d', 'cart-50')),
  // Seen.
  one(seen('first', 'withinLastDays', 3), ['pro', 'new-3d'], 'first seen within 3 days, the boundary included'),
  one(seen('first', 'notWithinLastDays', 3), except('pro', 'new-3d')),
  one(seen('last', 'withinLastDays', 7), ['pro', 'new-3d', 'new-3d-1m']),
  one(seen('last', 'notWithinLastDays', 7), except('pro', 'new-3d', 'new-3d-1m')),
  // Groups.
  {
    why: 'did cart_add at least 2 times in 7 days and not purchase in 30 days',
    rules: all(event('cart_add', 'atLeast', 2, 7), event('purchase', 'notDid', undefined, 30)),
    expected: ['cart-3'],
  },
  {
    why: 'OR of a rule and an AND group',
    rules: any(trait('plan', 'eq', 'pro'), all(trait('country', 'eq', 'FR'), consent('email', false))),
    expected: ['pro', 'plan-list', 'free'],
  },
  {
    why: 'AND of two OR groups',
    rules: all(any(trait('plan', 'contains', 'pro'), trait('age', 'gte', 35)), any(trait('tags', 'exists'), seen('first', 'withinLastDays', 3))),
    expected: ['pro', 'pro-plus', 'plan-list'],
  },
  {
    why: 'four levels of alternating groups',
    rules: all(any(all(any(trait('plan', 'eq', 'free'), trait('age', 'eq', 34)), consent('email', false)), trait('newsletter', 'eq', true))),
    expected: ['free', 'age-34', 'flags'],
  },
  { why: 'an empty AND is everyone alive', rules: all(), expected: LIVE },
  { why: 'an empty OR is no one', rules: any(), expected: [] },
  { why: 'an AND holding an empty OR is no one', rules: all(any(), trait('plan', 'eq', 'pro')), expected: [] },
  { why: 'an OR holding an empty AND is everyone alive', rules: any(all(), trait('plan', 'eq', 'pro')), expected: LIVE },
];

// ---------------------------------------------------------------------------------------------

const sorted = (ids: string[]): string[] => [...ids].sort();

describe('segment rules: store query and in-process match agree', () => {
  it('has a case for every op of every rule kind', () => {
    const ops = new Set<string>();
    const visit = (rules: SegmentRules): void => {
      for (const entry of rules.rules) {
        if ('match' in entry) visit(entry);
        else if (entry.kind === 'trait' || entry.kind === 'event' || entry.kind === 'seen') ops.add(`${entry.kind}:${entry.op}`);
        else ops.add(`consent:${entry.granted}`);
      }
    };
    for (const c of CASES) visit(c.rules);
    const expected = [
      ...['eq', 'ne', 'in', 'nin', 'contains', 'exists', 'notExists', 'lt', 'lte', 'gt', 'gte', 'between', 'before', 'after', 'withinLastDays'].map((op) => `trait:${op}`),
      ...['atLeast', 'atMost', 'did', 'notDid'].map((op) => `event:${op}`),
      'seen:withinLastDays',
      'seen:notWithinLastDays',
      'consent:true',
      'consent:false',
    ];
    expect([...ops].sort()).to.deep.equal(expected.sort());
  });

  it('finds nothing merged-away in process, even for "everyone"', () => {
    const merged = FIXTURES.find((p) => p._id === 'merged') as Profile;
    expect(profileMatches(merged, all(), now)).to.equal(false);
    const { mergedInto: _gone, ...alive } = merged;
    expect(profileMatches(alive as Profile, all(trait('plan', 'eq', 'pro')), now)).to.equal(true);
  });

  forEachStore((ctx) => {
    let stored: Profile[] = [];

    beforeEach(async () => {
      const profiles = ctx.store.collection<Profile>(COLLECTIONS.profiles);
      for (const profile of FIXTURES) await profiles.insertOne(structuredClone(profile));
      stored = await drain(profiles.find({}));
    });

    it('reads every fixture back with its dates as Dates', () => {
      expect(sorted(stored.map((p) => p._id))).to.deep.equal(sorted(FIXTURES.map((p) => p._id)));
      const byId = new Map(stored.map((p) => [p._id, p]));
      expect(byId.get('date-obj')?.traits.signupDate).to.be.instanceOf(Date);
      expect(byId.get('date-iso')?.traits.signupDate).to.equal('2026-05-01T00:00:00.000Z');
      expect(byId.get('cart-3')?.aggregates.cart_add?.recent?.[0]).to.be.instanceOf(Date);
      expect(byId.get('pro')?.createdAt).to.be.instanceOf(Date);
    });

    for (const c of CASES) {
      it(`${describeSegment(c.rules, 200)}${c.why ? ` (${c.why})` : ''}`, async () => {
        const filter = compileSegment(c.rules, now);
        // (a) the store query
        const fromStore = sorted((await drain(ctx.store.collection<Profile>(COLLECTIONS.profiles).find(filter))).map((p) => p._id));
        expect(fromStore, 'store query').to.deep.equal(sorted(c.expected));
        // (b) in process, on the profiles as the store returns them and as they were written
        const inProcess = sorted(stored.filter((p) => profileMatches(p, c.rules, now)).map((p) => p._id));
        expect(inProcess, 'profileMatches on stored profiles').to.deep.equal(sorted(c.expected));
        const onFixtures = sorted(FIXTURES.filter((p) => profileMatches(p, c.rules, now)).map((p) => p._id));
        expect(onFixtures, 'profileMatches on the fixtures').to.deep.equal(sorted(c.expected));
        // (c) the two agree with each other
        expect(inProcess).to.deep.equal(fromStore);
      });
    }
  });
});

describe('segment rules over events counted by ingestEvent', () => {
  forEachStore((ctx) => {
    it('counts events through ingestEvent into `recent`, so a windowed atLeast matches on the store and in process', async () => {
      const send = async (messageId: string, timestamp: string) => {
        const result = await ingestEvent(ctx.store, { name: 'cart_add', identities: { userId: 'shopper' }, messageId, timestamp }, { now });
        if (result.status !== 'accepted') expect.fail(`${messageId}: ${result.code} ${result.reason}`);
        return result.profile._id;
      };
      const id = await send('m-10d', '2026-06-05T12:00:00.000Z'); // outside the 7-day window
      await send('m-1d', '2026-06-14T12:00:00.000Z');
      const beforeSecond = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: id });
      expect(beforeSecond && profileMatches(beforeSecond, all(event('cart_add', 'atLeast', 2, 7)), now)).to.equal(false);
      await send('m-2d', '2026-06-13T12:00:00.000Z'); // arrives late, lands in order
      const duplicate = await ingestEvent(ctx.store, { name: 'cart_add', identities: { userId: 'shopper' }, messageId: 'm-2d' }, { now });
      expect(duplicate.status).to.equal('rejected');

      const profile = await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: id });
      if (!profile) return expect.fail('profile not stored');
      expect(profile.aggregates.cart_add?.count).to.equal(3);
      expect(profile.aggregates.cart_add?.recent?.map((d) => d.toISOString())).to.deep.equal([
        '2026-06-14T12:00:00.000Z',
        '2026-06-13T12:00:00.000Z',
        '2026-06-05T12:00:00.000Z',
      ]);

      const expectations: Array<[SegmentRules, boolean]> = [
        [all(event('cart_add', 'atLeast', 2, 7)), true],
        [all(event('cart_add', 'atLeast', 3, 7)), false],
        [all(event('cart_add', 'atLeast', 3, 11)), true],
        [all(event('cart_add', 'atLeast', 3)), true],
        [all(event('cart_add', 'atMost', 1, 7)), false],
        [all(event('cart_add', 'atMost', 2, 7)), true],
      ];
      for (const [rules, matches] of expectations) {
        const found = await drain(ctx.store.collection<Profile>(COLLECTIONS.profiles).find(compileSegment(rules, now)));
        expect(found.map((p) => p._id), `store: ${describeSegment(rules)}`).to.deep.equal(matches ? [id] : []);
        expect(profileMatches(profile, rules, now), `in process: ${describeSegment(rules)}`).to.equal(matches);
      }
    });
  });
});
