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
const modifier = fc.record(
  {
    $set: fc.dictionary(path, value, { maxKeys: 2 }),
    $unset: fc.dictionary(path, fc.constant(''), { maxKeys: 2 }),
    $inc: fc.dictionary(path, fc.integer({ min: -3, max: 3 }), { maxKeys: 2 }),
    $push: fc.dictionary(path, value, { maxKeys: 1 }),
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
      { numRuns: 3000, seed: 20261123 },
    );
    expect(taken, 'updates the fast path took').to.be.greaterThan(1000);
  });

  it('leaves to mingo what it does not take', () => {
    expect(applyPlainUpdate({ _id: 'a', list: [1] }, { $push: { list: { $each: [2, 3] } } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a', list: 'text' }, { $push: { list: 2 } })).to.equal(undefined);
    expect(applyPlainUpdate({ _id: 'a' }, { $addToSet: { list: 2 } })).to.equal(undefined);
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

  it('treats a field named like an Object member as a field, as MongoDB does', () => {
    // mingo reads `constructor` through the prototype and so leaves {} unchanged; MongoDB creates the field.
    expect(applyPlainUpdate({ _id: 'a' }, { $inc: { constructor: 1 } })).to.deep.equal({ next: { _id: 'a', constructor: 1 }, changed: true });
    expect(applyPlainUpdate({ _id: 'a' }, { $set: { 'toString.a': 1 } })).to.deep.equal({ next: { _id: 'a', toString: { a: 1 } }, changed: true });
  });
});
