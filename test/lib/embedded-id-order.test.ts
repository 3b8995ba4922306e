/**
 * The embedded store walks its _ids in order for a sort by _id (page after page of an
 * audience run): generated documents and paged queries must answer exactly as matching
 * everything and sorting it with mingo does, before and after inserts and removals.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Aggregator } from 'mingo';
import type { AnyObject } from 'mingo/types';
import type { Doc, Filter } from '../../lib/index.js';
import { EmbeddedCollection } from '../../lib/store/embedded/collection.js';
import { all } from '../support/stores.js';

const persist = async () => undefined;

// Ids that sort differently by code unit than by code point or case, and prefixes of one another.
const id = fc.oneof(fc.constantFrom('a', 'A', 'ab', 'b', 'é', '\u{1F600}', '\uFFFD', 'z9', 'a-1', 'a-10', 'a-2'), fc.string({ minLength: 1, maxLength: 4 }));
const doc = fc.record({ _id: id, plan: fc.constantFrom('pro', 'free'), n: fc.integer({ min: 0, max: 3 }) });
const condition = fc.oneof(fc.constant({}), fc.constant({ plan: 'pro' }), fc.record({ n: fc.record({ $gte: fc.integer({ min: 0, max: 3 }) }) }));
const query = fc.record({
  match: condition,
  floor: fc.option(fc.record({ op: fc.constantFrom('$gt', '$gte'), id, where: fc.constantFrom('top', 'and') }), { nil: undefined }),
  direction: fc.constantFrom(1 as const, -1 as const),
  limit: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
  skip: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
});

type Query = typeof query extends fc.Arbitrary<infer Q> ? Q : never;

function filterOf(q: Query): Filter {
  if (!q.floor) return q.match;
  const bound = { _id: { [q.floor.op]: q.floor.id } };
  return q.floor.where === 'top' ? { ...q.match, ...bound } : { $and: [q.match, bound] };
}

function viaMingo(docs: Doc[], q: Query): string[] {
  const stages: AnyObject[] = [{ $match: filterOf(q) }, { $sort: { _id: q.direction } }];
  if (q.skip) stages.push({ $skip: q.skip });
  if (q.limit) stages.push({ $limit: q.limit });
  return (new Aggregator(stages).run(docs as AnyObject[]) as Doc[]).map((d) => d._id);
}

async function viaStore(collection: EmbeddedCollection<Doc>, q: Query): Promise<string[]> {
  const found = await all(collection.find(filterOf(q), { sort: { _id: q.direction }, ...(q.limit ? { limit: q.limit } : {}), ...(q.skip ? { skip: q.skip } : {}) }));
  return found.map((d) => d._id);
}

describe('embedded store: reads in _id order', () => {
  it('answers as a sort of every match, for generated documents, bounds, limits and skips', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(doc, { selector: (d) => d._id, maxLength: 25 }), fc.array(query, { minLength: 1, maxLength: 4 }), async (docs, queries) => {
        const collection = new EmbeddedCollection<Doc>('profiles', persist);
        for (const d of docs) await collection.insertOne(d);
        for (const q of queries) expect(await viaStore(collection, q), JSON.stringify(q)).to.deep.equal(viaMingo(docs, q));
      }),
      { numRuns: 300, seed: 20261123 },
    );
  });

  it('sees documents inserted and removed since its last ordered read', async () => {
    const collection = new EmbeddedCollection<Doc>('profiles', persist);
    for (const _id of ['c', 'a', 'e']) await collection.insertOne({ _id });
    const page = (after: string) => viaStore(collection, { match: {}, floor: { op: '$gt', id: after, where: 'and' }, direction: 1, limit: 2, skip: undefined });
    expect(await page('')).to.deep.equal(['a', 'c']);
    await collection.insertOne({ _id: 'b' });
    await collection.deleteOne({ _id: 'c' });
    expect(await page('a')).to.deep.equal(['b', 'e']);
    expect(await page('e')).to.deep.equal([]);
  });

  it('walks lazily: a cursor finds each document as it stands when reached, so it holds no list of the collection', async () => {
    const collection = new EmbeddedCollection<Doc & { n: number }>('profiles', persist);
    for (const _id of ['a', 'b', 'c', 'd']) await collection.insertOne({ _id, n: 0 });
    const cursor = collection.find({}, { sort: { _id: 1 } })[Symbol.asyncIterator]();
    expect((await cursor.next()).value).to.deep.equal({ _id: 'a', n: 0 });
    await collection.updateOne({ _id: 'c' }, { $set: { n: 1 } });
    await collection.deleteOne({ _id: 'b' });
    const rest: Doc[] = [];
    for (let read = await cursor.next(); !read.done; read = await cursor.next()) rest.push(read.value);
    expect(rest).to.deep.equal([
      { _id: 'c', n: 1 },
      { _id: 'd', n: 0 },
    ]);
  });
});
