/**
 * The embedded store's equality indexes only narrow where a filter looks: every query must
 * answer exactly as a full scan does, whatever shape the indexed field takes in a document.
 */
import { expect } from 'chai';
import type { Doc, Filter } from '../../lib/index.js';
import { EmbeddedCollection } from '../../lib/store/embedded/collection.js';
import { all } from '../support/stores.js';

const persist = async () => undefined;

const fixtures: Doc[] = [
  { _id: 'string', k: 'a', data: { id: 'x' } },
  { _id: 'other', k: 'b', data: { id: 'y' } },
  { _id: 'number', k: 1, data: { id: 1 } },
  { _id: 'date', k: new Date(5), data: { id: new Date(5) } },
  { _id: 'null', k: null, data: { id: null } },
  { _id: 'missing' },
  { _id: 'array', k: ['a', 'c'], data: [{ id: 'x' }, { id: 'z' }] },
  { _id: 'object', k: { nested: 'a' }, data: { id: { nested: 'x' } } },
  { _id: 'bool', k: true, data: { id: false } },
];

const filters: Filter[] = [
  { k: 'a' },
  { k: 'c' },
  { k: 1 },
  { k: '1' },
  { k: new Date(5) },
  { k: null },
  { k: true },
  { k: { $eq: 'a' } },
  { k: { $in: ['a', 'a', 1] } },
  { k: { $in: [null] } },
  { k: { nested: 'a' } },
  { k: { $exists: true } },
  { k: { $ne: 'a' } },
  { 'data.id': 'x' },
  { 'data.id': 'z' },
  { 'data.id': null },
  { 'data.id': { $in: ['y', 1, false] } },
  { 'data.id': 'x', k: 'a' },
  { k: 'a', 'data.id': 'y' },
];

async function filled(indexed: string[]): Promise<EmbeddedCollection<Doc>> {
  const collection = new EmbeddedCollection<Doc>('c', persist, indexed);
  for (const doc of fixtures) await collection.insertOne(doc);
  return collection;
}

const ids = async (collection: EmbeddedCollection<Doc>, filter: Filter) =>
  (await all(collection.find(filter))).map((doc) => doc._id).sort();

describe('embedded equality indexes', () => {
  it('answer every filter exactly as a full scan does', async () => {
    const scan = await filled([]);
    const indexed = await filled(['k', 'data.id']);
    for (const filter of filters) {
      expect(await ids(indexed, filter), JSON.stringify(filter)).to.deep.equal(await ids(scan, filter));
    }
    // The fixtures must exercise the index, not only agree on empty answers.
    expect(await ids(indexed, { k: 'a' })).to.deep.equal(['array', 'string']);
    expect(await ids(indexed, { 'data.id': 'x' })).to.deep.equal(['array', 'string']);
    expect(await ids(indexed, { k: null })).to.deep.equal(['missing', 'null']);
  });

  it('follow updates, upserts and deletes', async () => {
    const collection = await filled(['k']);
    await collection.updateOne({ _id: 'string' }, { $set: { k: 'moved' } });
    expect(await ids(collection, { k: 'a' })).to.deep.equal(['array']);
    expect(await ids(collection, { k: 'moved' })).to.deep.equal(['string']);
    await collection.updateMany({ k: { $in: ['moved', 'b'] } }, { $set: { k: 'both' } });
    expect(await ids(collection, { k: 'both' })).to.deep.equal(['other', 'string']);
    await collection.updateOne({ _id: 'new' }, { $set: { k: 'both' } }, { upsert: true });
    await collection.findOneAndUpdate({ _id: 'number' }, { $set: { k: 'both' } });
    expect(await ids(collection, { k: 'both' })).to.deep.equal(['new', 'number', 'other', 'string']);
    await collection.deleteMany({ k: 'both' });
    expect(await ids(collection, { k: 'both' })).to.deep.equal([]);
    await collection.deleteOne({ k: null });
    expect((await ids(collection, { k: null })).length).to.equal(1);
  });

  it('apply an $in with a repeated value once per document', async () => {
    const collection = await filled(['k']);
    await collection.updateMany({ k: { $in: ['b', 'b'] } }, { $inc: { n: 1 } });
    expect(await collection.findOne({ _id: 'other' })).to.deep.include({ n: 1 });
  });
});
