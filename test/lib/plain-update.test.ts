/**
 * The embedded store's fast path for $set / $unset / $inc must answer exactly as mingo's
 * full updater does wherever it takes an update, and leave the stored version untouched:
 * generated documents and updates, both engines, the same result and the same "changed".
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { update as mingoUpdate, type Modifier } from 'mingo/updater';
import type { AnyObject } from 'mingo/types';
import { applyPlainUpdate } from '../../lib/store/embedded/plain-update.js';

// Not `constructor` or `toString`: mingo resolves those through the prototype (see the last test).
const key = fc.constantFrom('a', 'b', 'c', 'n', 'v');
const path = fc.array(key, { minLength: 1, maxLength: 3 }).map((segments) => segments.join('.'));
const leaf = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('x', 'y', null, true), fc.date({ min: new Date(0), max: new Date(10_000), noInvalidDate: true }));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(leaf, { maxLength: 2 }), fc.dictionary(key, tie('node'), { maxKeys: 3 })),
})).node;
const doc = fc.dictionary(key, value, { maxKeys: 4 });
/** `$push` with `$each`, `$slice` and `$sort`, as countEvent writes it (and odder lists, which mingo must be left). */
const bounded = fc.record(
  { $each: fc.array(leaf, { maxLength: 3 }), $slice: fc.integer({ min: -3, max: 3 }), $sort: fc.constantFrom(1, -1) },
  { requiredKeys: ['$each'] },
);
const modifier = fc.record(
  {
    $set: fc.dictionary(path, value, { maxKeys: 2 }),
    $unset: fc.dictionary(path, fc.constant(''), { maxKeys: 2 }),
    $inc: fc.dictionary(path, fc.integer({ min: -3, max: 3 }), { maxKeys: 2 }),
    $push: fc.dictionary(path, fc.oneof(value, bounded), { maxKeys: 1 }),
    $addToSet: fc.dictionary(path, fc.oneof(leaf, fc.constantFrom(-0, 0.5)), { maxKeys: 1 }),
    $min: fc.dictionary(path, leaf, { maxKeys: 1 }),
    $max: fc.dictionary(path, leaf, { maxKeys: 1 }),
  },
  { requiredKeys: [] },
);

function viaMingo(current: AnyObject, update: Record<string, unknown>): { next: AnyObject; changed: boolean } | { error: true } {
  const next = structuredClone(current);
  try {
    const changed = mingoUpdate(next, update as Modifier<AnyObject>, undefined, undefined, { cloneMode: 'deep' });
    return { next, changed: changed.length > 0 };
  } catch {
    return { error: true };
  }
}

describe('embedded store: plain updates', () => {
  it('agree with mingo on every update they take, and never touch the stored version', () => {
    let taken = 0;
    fc.assert(
      fc.property(doc, modifier, (current, update) => {
        const before = structuredClone(current);
        const plain = applyPlainUpdate(current, update);
        expect(current, 'stored version untouched').to.deep.equal(before);
        if (!plain) return;
        taken += 1;
        const reference = viaMingo(current, update);
        expect(reference, `mingo refused ${JSON.stringify(update)} on ${JSON.stringify(current)}`).not.to.have.property('error');
        const { next, changed } = reference as { next: AnyObject; changed: boolean };
        expect(plain.next).to.deep.equal(next);
        // mingo may report a $set of an equal value as a change; MongoDB does not, and neither does this path.
        if (plain.changed) expect(changed).to.equal(true);
        else expect(plain.next).to.deep.equal(current);
      }),
      { numRuns: 5000, seed: 20261123 },
    );
    expect(taken, 'updates the fast path took').to.be.greaterThan(800);
  });

  it('agree with mingo on bounded pushes and $min / $max over lists and values of one kind', () => {
    const kinds: Array<fc.Arbitrary<number | string | Date>> = [fc.integer({ min: -3, max: 3 }), fc.constantFrom('a', 'b', 'B', ''), fc.integer({ min: 0, max: 4 }).map((s) => new Date(s * 1000))];
    let taken = 0;
    fc.assert(
      fc.property(
        fc.oneof(...kinds.map((item) => fc.record({ list: fc.array(item, { maxLength: 4 }), each: fc.array(item, { maxLength: 2 }), one: item, other: item }))),
        fc.option(fc.integer({ min: -4, max: 4 })),
        fc.option(fc.constantFrom(1, -1)),
        fc.boolean(),
        ({ list, each, one, other }, slice, sort, nested) => {
          const current = nested ? { _id: 'p', agg: { list, v: one } } : { _id: 'p', list, v: one };
          const prefix = nested ? 'agg.' : '';
          const push = { $each: each, ...(slice === null ? {} : { $slice: slice }), ...(sort === null ? {} : { $sort: sort }) };
          const update = { $push: { [`${prefix}list`]: push, [`${prefix}fresh`]: { ...push, $each: each.slice(0, 1) } }, $min: { [`${prefix}v`]: other }, $max: { [`${prefix}w`]: other } };
          const before = structuredClone(current);
          const plain = applyPlainUpdate(current, update);
          expect(current).to.deep.equal(before);
          if (!plain) return;
          taken += 1;
          const reference = viaMingo(current, update);
          expect(reference).not.to.have.property('error');
          expect(plain.next, JSON.stringify(update)).to.deep.equal((reference as { next: AnyObject }).next);
        },
      ),
      { numRuns: 2000, seed: 11 },
    );
    expect(taken).to.be.greaterThan(1500);
  });

  it('leaves to mingo what it does not take', () => {
    expect(applyPlainUpdate({ _id: 'a', list: [1] }, { $push: { list: { $each: [2, 3], $position: 0 } } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a', list: [{ n: 1 }] }, { $push: { list: { $each: [{ n: 0 }], $sort: { n: 1 } } } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a', list: [1, 'x'] }, { $push: { list: { $each: [2], $sort: 1 } } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a' }, { $push: { list: { $each: [2, 1], $sort: 1 } } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a', n: 'text' }, { $min: { n: 1 } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a', n: new Date(1) }, { $max: { n: 2 } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a', list: 'text' }, { $push: { list: 2 } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a' }, { $addToSet: { list: { $each: [2] } } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a' }, { $addToSet: { list: { n: 2 } } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a', list: 'x' }, { $addToSet: { list: 'x' } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a', list: [{ n: 1 }] }, { $set: { 'list.0.n': 2 } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a', list: [{ n: 1 }] }, { $set: { 'list.n': 2 } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a', n: 'text' }, { $inc: { n: 1 } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a' }, { $set: { a: 1 }, $unset: { a: '' } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a' }, { $set: { a: 1, 'a.b': 2 } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a' }, { $set: { '__proto__.polluted': 1 } })).to.equal(undefined);
    expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
  });

  it('shares what it did not change with the stored version', () => {
    const stored = { _id: 'p', traits: { plan: 'pro', tags: ['a'] }, consent: { email: { status: 'granted' } } };
    const outcome = applyPlainUpdate(stored, { $set: { 'traits.plan': 'free' }, $inc: { version: 1 } })!;
    expect(outcome.changed).to.equal(true);
    expect(outcome.next).to.deep.equal({ _id: 'p', traits: { plan: 'free', tags: ['a'] }, consent: { email: { status: 'granted' } }, version: 1 });
    expect(outcome.next.consent).to.equal(stored.consent);
    expect(outcome.next.traits.tags).to.equal(stored.traits.tags);
    expect(stored.traits.plan).to.equal('pro');
  });

  it('counts an event on a profile as countEvent writes it', () => {
    const at = (s: number) => new Date(s * 1000);
    const stored = { _id: 'p', recentMessageIds: ['m1', 'm2'], aggregates: { view: { count: 2, first: at(5), last: at(9), recent: [at(9), at(5)] } } };
    const outcome = applyPlainUpdate(stored, {
      $inc: { 'aggregates.view.count': 1 },
      $min: { 'aggregates.view.first': at(7) },
      $max: { 'aggregates.view.last': at(7) },
      $push: { recentMessageIds: { $each: ['m3'], $slice: -2 }, 'aggregates.view.recent': { $each: [at(7)], $sort: -1, $slice: 2 } },
    })!;
    expect(outcome).to.deep.equal({
      next: { _id: 'p', recentMessageIds: ['m2', 'm3'], aggregates: { view: { count: 3, first: at(5), last: at(9), recent: [at(9), at(7)] } } },
      changed: true,
      // What the journal keeps: the fields that changed ($min and $max left theirs as they were).
      ops: [['aggregates.view.count', 3], ['recentMessageIds', ['m2', 'm3']], ['aggregates.view.recent', [at(9), at(7)]]],
    });
    expect(stored.aggregates.view.recent).to.deep.equal([at(9), at(5)]);
  });

  it('treats a field named like an Object member as a field, as MongoDB does', () => {
    // mingo reads `constructor` through the prototype and so leaves {} unchanged; MongoDB creates the field.
    expect(applyPlainUpdate({ _id: 'a' }, { $inc: { constructor: 1 } })).to.deep.equal({ next: { _id: 'a', constructor: 1 }, changed: true, ops: [['constructor', 1]] });
    expect(applyPlainUpdate({ _id: 'a' }, { $set: { 'toString.a': 1 } })).to.deep.equal({ next: { _id: 'a', toString: { a: 1 } }, changed: true, ops: [['toString.a', 1]] });
  });
});
