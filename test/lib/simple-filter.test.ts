/**
 * The direct filter evaluator (lib/store/simple-filter.ts) must answer exactly as mingo
 * wherever it answers at all: generated filters of the shapes it takes, generated documents
 * that also hold what it leaves to mingo (arrays, sub-documents, mixed types), both engines.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Context } from 'mingo/core';
import * as queryOperators from 'mingo/operators/query';
import { Query } from 'mingo/query';
import type { AnyObject } from 'mingo/types';
import type { Filter } from '../../lib/index.js';
import { compileFilter } from '../../lib/store/filter-engine.js';
import { compileSimpleFilter } from '../../lib/store/simple-filter.js';

const CONTEXT = Context.init({ query: queryOperators });
const viaMingo = (filter: Filter, doc: object) => new Query(filter as AnyObject, { context: CONTEXT }).test(doc as AnyObject);

const key = fc.constantFrom('a', 'b', 'c');
const path = fc.array(key, { minLength: 1, maxLength: 2 }).map((segments) => segments.join('.'));
const date = fc.integer({ min: 0, max: 4 }).map((t) => new Date(t * 1000));
const scalar = fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constantFrom('x', 'y', '', null, true, false, 0.5, -0), date);
const leaf = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.constantFrom(undefined, Number.NaN, new Date(Number.NaN)));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, leaf, fc.dictionary(key, tie('node'), { maxKeys: 3, noNullPrototype: true })),
})).node;
const doc = fc.dictionary(key, value, { maxKeys: 3, noNullPrototype: true });

const bound = fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constantFrom('x', 'y', 0.5), date);
const operator = fc.oneof(
  fc.record({ $eq: scalar }),
  fc.record({ $ne: scalar }),
  fc.record({ $in: fc.array(scalar, { maxLength: 3 }) }),
  fc.record({ $nin: fc.array(scalar, { maxLength: 3 }) }),
  fc.record({ $exists: fc.boolean() }),
  fc.record({ $lt: bound }),
  fc.record({ $lte: bound }),
  fc.record({ $gt: bound }),
  fc.record({ $gte: bound, $lt: bound }),
  fc.record({ $type: fc.constant('number') }),
);
const condition = fc.oneof(scalar, operator);
const fields = fc.dictionary(path, condition, { minKeys: 0, maxKeys: 3, noNullPrototype: true });
const filter: fc.Arbitrary<Filter> = fc.letrec((tie) => ({
  f: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fields,
    fields,
    fc.record({ $or: fc.array(tie('f'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ $and: fc.array(tie('f'), { minLength: 1, maxLength: 3 }) }),
  ),
})).f as fc.Arbitrary<Filter>;

describe('store filters: the direct evaluator', () => {
  it('answers as mingo does on every document it decides', () => {
    let decided = 0;
    let total = 0;
    fc.assert(
      fc.property(filter, fc.array(doc, { minLength: 1, maxLength: 5 }), (f, docs) => {
        const simple = compileSimpleFilter(f);
        expect(simple, `a generated filter is a shape it takes: ${JSON.stringify(f)}`).not.to.equal(undefined);
        for (const d of docs) {
          total += 1;
          const answer = simple!(d);
          if (answer === undefined) continue;
          decided += 1;
          expect(answer, `${JSON.stringify(f)} on ${JSON.stringify(d)}`).to.equal(viaMingo(f, d));
        }
      }),
      { numRuns: 4000, seed: 20261123 },
    );
    // Most documents are decided directly, or the evaluator would save little.
    expect(decided / total).to.be.greaterThan(0.5);
  });

  it('answers as mingo for every operator, operand and kind of value, one by one', () => {
    const scalars: unknown[] = [-1, 0, 0.5, 2, 'x', 'y', '', true, false, null, new Date(0), new Date(1000)];
    const values: unknown[] = [...scalars, undefined, Number.NaN, [], [1], ['x', null], { b: 1 }, {}];
    const conditions: unknown[] = [
      ...scalars,
      ...scalars.flatMap((s) => [{ $eq: s }, { $ne: s }, { $in: [s] }, { $nin: [s] }, { $in: [s, 'x'] }]),
      ...scalars.filter((s) => s !== null && typeof s !== 'boolean').flatMap((s) => [{ $lt: s }, { $lte: s }, { $gt: s }, { $gte: s }]),
      { $exists: true },
      { $exists: false },
      { $type: 'number' },
      { $in: [] },
      { $nin: [] },
    ];
    let decided = 0;
    for (const condition of conditions) {
      for (const v of values) {
        for (const d of [{ a: v }, { b: { a: v } }, { a: { a: v } }]) {
          for (const f of [{ a: condition }, { 'a.a': condition }] as Filter[]) {
            const answer = compileSimpleFilter(f)!(d);
            if (answer === undefined) continue;
            decided += 1;
            expect(answer, `${JSON.stringify(f)} on ${JSON.stringify(d)} (${String(v)})`).to.equal(viaMingo(f, d));
          }
        }
      }
    }
    expect(decided).to.be.greaterThan(2000);
  });

  it('and compileFilter answers as mingo on every document, deciding or not', () => {
    fc.assert(
      fc.property(filter, doc, (f, d) => {
        expect(compileFilter(f).test(d), `${JSON.stringify(f)} on ${JSON.stringify(d)}`).to.equal(viaMingo(f, d));
      }),
      { numRuns: 3000, seed: 9 },
    );
  });

  it('decides the store calls that matter directly', () => {
    const profile = { _id: 'p1', traits: { visits: 3, plan: 'pro' }, recentMessageIds: ['m1'], version: 4, updatedAt: new Date(10) };
    const check = (f: Filter) => compileSimpleFilter(f)!(profile);
    expect(check({ _id: 'p1' })).to.equal(true);
    expect(check({ _id: 'p1', version: 4 })).to.equal(true);
    expect(check({ _id: 'p1', mergedInto: { $exists: false }, $and: [{ $or: [{ 'traits.visits': { $exists: false } }, { 'traits.visits': { $type: 'number' } }] }] })).to.equal(true);
    expect(check({ updatedAt: { $lt: new Date(11) } })).to.equal(true);
    // recentMessageIds is a list of strings: $ne over it means that no element equals, as countEvent's guard asks.
    expect(check({ _id: 'p1', recentMessageIds: { $ne: 'm1' } })).to.equal(false);
    expect(check({ _id: 'p1', recentMessageIds: { $ne: 'm2' } })).to.equal(true);
    // A list under a range is left to mingo.
    expect(check({ recentMessageIds: { $gt: 'a' } })).to.equal(undefined);
  });

  it('leaves other shapes to mingo', () => {
    for (const f of [
      { a: { $regex: 'x' } },
      { a: /x/ },
      { a: { b: 1 } },
      { 'a.0': 1 },
      { a: { $elemMatch: { b: 1 } } },
      { $expr: { $eq: ['$a', 1] } },
      { $nor: [{ a: 1 }] },
      { $and: [] },
      { a: { $in: [[1]] } },
      { a: { $type: 'string' } },
      { a: Number.NaN },
      { constructor: 1 },
      { a: {} },
    ] as Filter[]) {
      expect(compileSimpleFilter(f), JSON.stringify(f)).to.equal(undefined);
    }
  });
});
