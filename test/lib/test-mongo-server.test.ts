/**
 * The test MongoDB server's own change (test/mongo-server): a query naming `_id` and more is
 * answered from the document with that `_id`, as MongoDB's `_id` index would, instead of by
 * reading the whole collection. The answers must be the ones the server gave before: the
 * same query with `_id` written as `{ $eq: ... }` still takes the server's own path, so each
 * query is asked both ways.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { MongoClient, type Collection, type Document, type Filter } from 'mongodb';
import { testMongoUri } from '../support/stores.js';

interface Item {
  _id: string | number;
  n?: number;
  tag?: string;
  tags?: string[];
  owner?: { name: string } | null;
  status?: string;
}

const items: Item[] = [
  { _id: 'a', n: 1, tag: 'x', tags: ['red', 'blue'], owner: { name: 'ann' }, status: 'active' },
  { _id: 'b', n: 2, tag: 'y', tags: [], owner: null, status: 'active' },
  { _id: 'c', n: 3, status: 'ended' },
  { _id: 7, n: 7, tag: 'x', owner: { name: 'bob' } },
  { _id: '7', n: 70, tag: 'x' },
];

/** Conditions beside `_id`, of the kinds the package writes (claims, optimistic locks, carriers). */
const conditions: Array<Filter<Item>> = [
  { n: 1 },
  { n: { $gt: 1 } },
  { tag: 'x', status: 'active' },
  { status: { $exists: false } },
  { 'owner.name': 'ann' },
  { owner: null },
  { tags: 'blue' },
  { tags: { $size: 0 } },
  { $or: [{ 'owner.name': 'bob' }, { owner: { $exists: false } }] },
  { n: { $in: [2, 3, 70] } },
];

const ids: Array<Item['_id']> = ['a', 'b', 'c', 7, '7', 'missing'];

describe('test MongoDB server: a query by _id and more is answered from that document', function () {
  let client: MongoClient;
  let coll: Collection<Item>;

  before(async () => {
    client = await MongoClient.connect(testMongoUri());
    coll = client.db(`journeys_idq_${randomUUID().slice(0, 8)}`).collection<Item>('items');
  });
  beforeEach(async () => {
    await coll.deleteMany({});
    await coll.insertMany(items.map((i) => ({ ...i })));
  });
  after(async () => {
    await coll.drop().catch(() => undefined);
    await client.close();
  });

  const viaEq = (filter: Filter<Item>): Filter<Item> => ({ ...filter, _id: { $eq: filter._id } } as Filter<Item>);
  const idsOf = (docs: Document[]) => docs.map((d) => d._id as Item['_id']);

  it('finds what the server\'s own path finds, for every id and condition', async () => {
    let matched = 0;
    for (const _id of ids) {
      for (const condition of conditions) {
        const filter = { _id, ...condition } as Filter<Item>;
        const fast = await coll.find(filter).toArray();
        const own = await coll.find(viaEq(filter)).toArray();
        expect(fast, JSON.stringify(filter)).to.deep.equal(own);
        matched += fast.length;
      }
    }
    // Not an agreement on nothing: some of these queries match.
    expect(matched).to.be.greaterThan(5);
    // A number and a string of the same digits are different ids.
    expect(idsOf(await coll.find({ _id: 7, tag: 'x' }).toArray())).to.deep.equal([7]);
    expect(idsOf(await coll.find({ _id: '7', tag: 'x' }).toArray())).to.deep.equal(['7']);
  });

  it('keeps projection, skip and limit', async () => {
    expect(await coll.find({ _id: 'a', tag: 'x' }, { projection: { n: 1 } }).toArray()).to.deep.equal([{ _id: 'a', n: 1 }]);
    expect(await coll.find({ _id: 'a', tag: 'x' }).skip(1).toArray()).to.deep.equal([]);
    expect(await coll.find({ _id: 'a', tag: 'x' }).limit(1).toArray()).to.have.length(1);
    expect(await coll.countDocuments({ _id: 'a', tag: 'x' })).to.equal(1);
    expect(await coll.countDocuments({ _id: 'a', tag: 'y' })).to.equal(0);
  });

  it('writes through a guarded _id only when the guard holds', async () => {
    expect((await coll.updateOne({ _id: 'a', status: 'ended' }, { $set: { n: 100 } })).matchedCount).to.equal(0);
    expect((await coll.updateOne({ _id: 'a', status: 'active' }, { $set: { n: 100 } })).modifiedCount).to.equal(1);
    expect(await coll.findOneAndUpdate({ _id: 'b', n: 1 }, { $set: { status: 'ended' } })).to.equal(null);
    expect(await coll.findOneAndUpdate({ _id: 'b', n: 2 }, { $set: { status: 'ended' } }, { returnDocument: 'after' })).to.include({ _id: 'b', status: 'ended' });
    expect((await coll.deleteOne({ _id: 'c', status: 'active' })).deletedCount).to.equal(0);
    expect((await coll.deleteOne({ _id: 'c', status: 'ended' })).deletedCount).to.equal(1);
    expect(idsOf(await coll.find({}).sort({ n: 1 }).toArray())).to.deep.equal(['b', 7, '7', 'a']);
    expect((await coll.findOne({ _id: 'a' }))?.n).to.equal(100);
  });

  it('lets one of several racing guarded claims of a document win', async () => {
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, k) => coll.findOneAndUpdate({ _id: 'a', status: 'active' }, { $set: { status: `claimed-${k}` } }, { returnDocument: 'after' })),
    );
    const winners = claims.filter((c) => c !== null);
    expect(winners).to.have.length(1);
    expect((await coll.findOne({ _id: 'a' }))?.status).to.equal(winners[0]!.status);
  });
});
