/** The store port's contract: both adapters must behave the same, operation by operation. */
import { expect } from 'chai';
import { DuplicateKeyError, type Doc } from '../../lib/index.js';
import { all, forEachStore } from '../support/stores.js';

interface Item extends Doc {
  n?: number;
  tags?: string[];
  at?: Date;
  group?: string;
  nested?: { a?: number; b?: string };
  recent?: string[];
}

describe('store port contract', function () {
  forEachStore((ctx) => {
    const items = () => ctx.store.collection<Item>('items');

    it('inserts and finds by _id, refusing a duplicate _id', async () => {
      await items().insertOne({ _id: 'a', n: 1 });
      expect(await items().findOne({ _id: 'a' })).to.deep.equal({ _id: 'a', n: 1 });
      const err = await items()
        .insertOne({ _id: 'a', n: 2 })
        .then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(DuplicateKeyError);
      expect(await items().findOne({ _id: 'a' })).to.deep.equal({ _id: 'a', n: 1 });
    });

    it('inserts many in one call, keeping what exists and naming the _ids that were taken', async () => {
      await items().insertOne({ _id: 'm2', n: 0 });
      const result = await items().insertMany([
        { _id: 'm1', n: 1 },
        { _id: 'm2', n: 2 },
        { _id: 'm3', n: 3 },
      ]);
      expect(result).to.deep.equal({ duplicates: ['m2'] });
      expect(await all(items().find({}, { sort: { _id: 1 } }))).to.deep.equal([
        { _id: 'm1', n: 1 },
        { _id: 'm2', n: 0 },
        { _id: 'm3', n: 3 },
      ]);
      expect(await items().insertMany([])).to.deep.equal({ duplicates: [] });
    });

    it('finds by a list of _ids with further conditions, each document once', async () => {
      for (let i = 0; i < 5; i++) await items().insertOne({ _id: `l${i}`, n: i });
      const found = await all(items().find({ _id: { $in: ['l3', 'l1', 'nope', 'l3', 'l0'] }, n: { $gte: 1 } }, { sort: { _id: 1 } }));
      expect(found.map((d) => d._id)).to.deep.equal(['l1', 'l3']);
      expect(await items().count({ _id: { $in: ['l2', 'l4'] } })).to.equal(2);
    });

    it('round-trips dates as dates', async () => {
      const at = new Date('2026-05-01T10:00:00.123Z');
      await items().insertOne({ _id: 'd', at });
      const found = await items().findOne({ _id: 'd' });
      expect(found?.at).to.be.instanceOf(Date);
      expect(found?.at?.getTime()).to.equal(at.getTime());
      expect(await items().count({ at: { $gte: new Date('2026-01-01T00:00:00Z') } })).to.equal(1);
      expect(await items().count({ at: { $lt: new Date('2026-01-01T00:00:00Z') } })).to.equal(0);
    });

    it('projects dotted paths through arrays, nested objects and dates, and can leave _id out', async () => {
      const at = new Date('2026-02-03T04:05:06Z');
      await items().insertOne({ _id: 'p1', path: [{ node: 'a', at }, { node: 'b', at }, 7], variants: { s1: 'A' }, at, other: 'x', deep: { keep: 1, drop: 2 } });
      const [doc] = await all(items().find({ _id: 'p1' }, { projection: { 'path.node': 1, variants: 1, at: 1, 'deep.keep': 1 } }));
      expect(doc).to.deep.equal({ _id: 'p1', path: [{ node: 'a' }, { node: 'b' }], variants: { s1: 'A' }, at, deep: { keep: 1 } });
      expect(await items().findOne({ _id: 'p1' }, { projection: { _id: 0, other: 1 } })).to.deep.equal({ other: 'x' });
      // What was read is the reader's own: changing it changes nothing stored.
      (doc!.variants as Record<string, string>).s1 = 'changed';
      expect((await items().findOne({ _id: 'p1' }))?.variants).to.deep.equal({ s1: 'A' });
    });

    it('finds with filter, sort, skip, limit and projection', async () => {
      for (let i = 0; i < 10; i++) await items().insertOne({ _id: `i${i}`, n: i, group: i % 2 ? 'odd' : 'even' });
      const odd = await all(items().find({ group: 'odd' }, { sort: { n: -1 }, skip: 1, limit: 2 }));
      expect(odd.map((d) => d.n)).to.deep.equal([7, 5]);
      const projected = await all(items().find({ n: { $in: [2, 3] } }, { sort: { n: 1 }, projection: { n: 1 } }));
      expect(projected).to.deep.equal([
        { _id: 'i2', n: 2 },
        { _id: 'i3', n: 3 },
      ]);
      expect(await items().count({ n: { $gte: 5 } })).to.equal(5);
      expect(await items().count({ missing: { $exists: true } })).to.equal(0);
      expect(await items().count({ $and: [{ group: 'odd' }, { $expr: { $gt: ['$n', 4] } }] })).to.equal(3);
      expect(await items().count({ $nor: [{ n: { $lt: 8 } }], group: { $elemMatch: { $exists: true } } })).to.equal(0);
      const first = await items().findOne({ group: 'even' }, { sort: { n: -1 } });
      expect(first?.n).to.equal(8);
    });

    it('returns copies: changing a result does not change the store', async () => {
      await items().insertOne({ _id: 'c', tags: ['x'] });
      const found = await items().findOne({ _id: 'c' });
      found?.tags?.push('y');
      expect((await items().findOne({ _id: 'c' }))?.tags).to.deep.equal(['x']);
    });

    it('updates by _id: the document when it exists (and meets the condition), nothing when not', async () => {
      await items().insertOne({ _id: 'b1', n: 1 });
      const together = await Promise.all([
        items().updateById('b1', { $inc: { n: 1 } }),
        items().updateById('b1', { $inc: { n: 1 }, $set: { group: 'g' } }),
        items().updateById('missing', { $set: { n: 9 } }),
      ]);
      expect(await items().findOne({ _id: 'b1' })).to.deep.equal({ _id: 'b1', n: 3, group: 'g' });
      expect(await items().findOne({ _id: 'missing' })).to.equal(null);
      // Sent together, an adapter may only know that the batch partly missed; never a wrong answer.
      expect(together[0]).to.be.oneOf(['matched', 'unknown']);
      expect(together[2]).to.be.oneOf(['missed', 'unknown']);
      // Alone, each knows: with a condition, it matches only when the document also meets it.
      expect(await items().updateById('b1', { $inc: { n: 100 } }, { group: 'other' })).to.equal('missed');
      expect(await items().updateById('b1', { $inc: { n: 10 } }, { group: 'g', n: { $lt: 5 } })).to.equal('matched');
      expect(await items().updateById('missing', { $inc: { n: 10 } })).to.equal('missed');
      expect(await items().findOne({ _id: 'b1' })).to.deep.equal({ _id: 'b1', n: 13, group: 'g' });
    });

    it('applies $set, $inc, $min, $max, $unset, $addToSet and $push with $slice', async () => {
      await items().insertOne({ _id: 'u', n: 5, tags: ['a'], recent: [] });
      const t1 = new Date('2026-01-02T00:00:00Z');
      const t0 = new Date('2026-01-01T00:00:00Z');
      const r = await items().updateOne(
        { _id: 'u' },
        {
          $inc: { n: 2, 'nested.a': 1 },
          $set: { 'nested.b': 'x' },
          $min: { at: t1 },
          $addToSet: { tags: 'a' },
          $push: { recent: { $each: ['m1', 'm2', 'm3'], $slice: -2 } },
        },
      );
      expect(r).to.include({ matched: 1, modified: 1, upserted: false });
      await items().updateOne({ _id: 'u' }, { $min: { at: t0 }, $addToSet: { tags: 'b' }, $unset: { n: '' } });
      const doc = await items().findOne({ _id: 'u' });
      expect(doc).to.deep.equal({
        _id: 'u',
        tags: ['a', 'b'],
        recent: ['m2', 'm3'],
        nested: { a: 1, b: 'x' },
        at: t0,
      });
      await items().updateOne({ _id: 'u' }, { $max: { at: t1 } });
      expect((await items().findOne({ _id: 'u' }))?.at?.getTime()).to.equal(t1.getTime());
    });

    it('pushes with $each, $sort: -1 and $slice: keeps the newest, newest first, in a nested path', async () => {
      const day = (d: number) => new Date(Date.UTC(2026, 0, d));
      await items().insertOne({ _id: 's' });
      // The path does not exist yet, then grows past the cap with out-of-order values.
      for (const d of [5, 1, 9, 3, 7]) {
        await items().updateOne(
          { _id: 's' },
          { $inc: { 'nested.a': 1 }, $push: { 'agg.x.recent': { $each: [day(d)], $sort: -1, $slice: 3 } } },
        );
      }
      const doc = await items().findOne({ _id: 's' });
      const recent = (doc as unknown as { agg: { x: { recent: Date[] } } }).agg.x.recent;
      expect(recent.map((d) => d.getTime())).to.deep.equal([day(9), day(7), day(5)].map((d) => d.getTime()));
      expect(recent[0]).to.be.instanceOf(Date);
      expect(doc?.nested?.a).to.equal(5);
      // An array index in a path reaches the n-th newest: how a windowed count is asked.
      expect(await items().count({ 'agg.x.recent.2': { $gte: day(5) } })).to.equal(1);
      expect(await items().count({ 'agg.x.recent.2': { $gte: day(6) } })).to.equal(0);
      expect(await items().count({ 'agg.x.recent.3': { $exists: true } })).to.equal(0);
    });

    it('upserts with the filter equality fields and $setOnInsert, only on insert', async () => {
      const first = await items().updateOne(
        { _id: 'up', group: 'g' },
        { $setOnInsert: { n: 1 }, $inc: { 'nested.a': 1 } },
        { upsert: true },
      );
      expect(first.upserted).to.equal(true);
      const second = await items().updateOne(
        { _id: 'up' },
        { $setOnInsert: { n: 100 }, $inc: { 'nested.a': 1 } },
        { upsert: true },
      );
      expect(second).to.include({ matched: 1, upserted: false });
      expect(await items().findOne({ _id: 'up' })).to.deep.equal({ _id: 'up', group: 'g', n: 1, nested: { a: 2 } });
    });

    it('refuses an upsert whose filter excludes an existing _id as a duplicate, leaving the document alone', async () => {
      await items().insertOne({ _id: 'taken', state: 'running' });
      const claim = () =>
        items().updateOne({ _id: 'taken', state: { $ne: 'running' } }, { $set: { state: 'mine' } }, { upsert: true });
      let thrown: unknown;
      await claim().catch((err: unknown) => (thrown = err));
      expect(thrown).to.be.instanceOf(DuplicateKeyError);
      thrown = undefined;
      await items()
        .findOneAndUpdate({ _id: 'taken', state: 'idle' }, { $set: { state: 'mine' } }, { upsert: true })
        .catch((err: unknown) => (thrown = err));
      expect(thrown).to.be.instanceOf(DuplicateKeyError);
      expect(await items().findOne({ _id: 'taken' })).to.deep.equal({ _id: 'taken', state: 'running' });
    });

    it('findOneAndUpdate returns the document before or after, and null on no match', async () => {
      await items().insertOne({ _id: 'f', n: 1 });
      expect((await items().findOneAndUpdate({ _id: 'f' }, { $inc: { n: 1 } }))?.n).to.equal(1);
      expect((await items().findOneAndUpdate({ _id: 'f' }, { $inc: { n: 1 } }, { returnDocument: 'after' }))?.n).to.equal(3);
      expect(await items().findOneAndUpdate({ _id: 'f', n: 99 }, { $inc: { n: 1 } })).to.equal(null);
      const created = await items().findOneAndUpdate(
        { _id: 'g' },
        { $setOnInsert: { group: 'new' } },
        { upsert: true, returnDocument: 'after' },
      );
      expect(created).to.deep.equal({ _id: 'g', group: 'new' });
    });

    it('guards an update with $ne on an array (the idempotency guard)', async () => {
      await items().insertOne({ _id: 'g', n: 0, recent: [] });
      const apply = () =>
        items().updateOne({ _id: 'g', recent: { $ne: 'm1' } }, { $inc: { n: 1 }, $push: { recent: 'm1' } });
      expect((await apply()).modified).to.equal(1);
      expect((await apply()).matched).to.equal(0);
      expect((await items().findOne({ _id: 'g' }))?.n).to.equal(1);
    });

    it('updates and deletes many, and counts what it touched', async () => {
      for (let i = 0; i < 6; i++) await items().insertOne({ _id: `m${i}`, n: i, group: i < 4 ? 'a' : 'b' });
      expect(await items().updateMany({ group: 'a' }, { $set: { group: 'c' } })).to.include({ matched: 4, modified: 4 });
      expect(await items().deleteOne({ group: 'c' })).to.equal(1);
      expect(await items().deleteMany({ group: 'c' })).to.equal(3);
      expect(await items().deleteMany({ group: 'zzz' })).to.equal(0);
      expect(await items().count({})).to.equal(2);
    });

    it('aggregates with $match and $group', async () => {
      for (let i = 0; i < 5; i++) await items().insertOne({ _id: `a${i}`, n: i, group: i < 3 ? 'x' : 'y' });
      const rows = await ctx.store
        .collection<Item>('items')
        .aggregate<{ _id: string; total: number; count: number }>([
          { $match: { n: { $gte: 1 } } },
          { $group: { _id: '$group', total: { $sum: '$n' }, count: { $sum: 1 } } },
        ]);
      rows.sort((a, b) => a._id.localeCompare(b._id));
      expect(rows).to.deep.equal([
        { _id: 'x', total: 3, count: 2 },
        { _id: 'y', total: 7, count: 2 },
      ]);
    });

    it('keeps everything across a close and reopen', async () => {
      const at = new Date('2026-03-03T03:03:03Z');
      await items().insertOne({ _id: 'p1', n: 1, at });
      await items().insertOne({ _id: 'p2', n: 2 });
      await items().updateOne({ _id: 'p1' }, { $inc: { n: 10 } });
      await items().deleteOne({ _id: 'p2' });
      await ctx.store.close();
      ctx.store = await ctx.fixture.reopen();
      expect(await items().findOne({ _id: 'p1' })).to.deep.equal({ _id: 'p1', n: 11, at });
      expect(await items().findOne({ _id: 'p2' })).to.equal(null);
    });

    it('serialises concurrent increments without losing any', async () => {
      await items().insertOne({ _id: 'cc', n: 0 });
      await Promise.all(Array.from({ length: 50 }, () => items().updateOne({ _id: 'cc' }, { $inc: { n: 1 } })));
      expect((await items().findOne({ _id: 'cc' }))?.n).to.equal(50);
    });
  });
});
