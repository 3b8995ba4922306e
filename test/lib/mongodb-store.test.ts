/** What only the MongoDB adapter has to get right: indexes at open, a clear refusal, shared round trips. */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { DuplicateKeyError, INDEXES, MongoStore, type Doc } from '../../lib/index.js';
import { all, testMongoUri } from '../support/stores.js';

describe('MongoDB store', () => {
  it('creates the declared indexes when it opens', async () => {
    const database = `journeys_idx_${randomUUID().slice(0, 8)}`;
    const store = await MongoStore.open({ uri: testMongoUri(), database });
    const client = await MongoClient.connect(testMongoUri());
    try {
      for (const [collection, specs] of Object.entries(INDEXES)) {
        const names = (await client.db(database).collection(collection).listIndexes().toArray()).map((i) => i.name as string);
        expect(names, collection).to.include.members(specs.map((s) => s.name));
      }
    } finally {
      await client.close();
      await store.close();
    }
  });

  it('refuses to open an unreachable server with an error that names it, without the password', async () => {
    const err = await MongoStore.open({
      uri: 'mongodb://user:s3cret@127.0.0.1:1/?serverSelectionTimeoutMS=300',
      database: 'x',
      serverSelectionTimeoutMS: 300,
    }).then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).to.equal('STORE_UNAVAILABLE');
    expect(err?.message).to.include('mongodb://127.0.0.1:1/x');
    expect(err?.message).to.not.include('s3cret');
  });

  describe('concurrent calls sharing round trips', () => {
    interface Item extends Doc {
      n?: number;
      label?: string;
      blob?: string;
    }
    let store: MongoStore;
    let commands: string[];
    const items = () => store.collection<Item>('items');
    /** The commands sent to the items collection, by name. */
    const sent = (name: string) => commands.filter((c) => c === `${name} items`).length;

    beforeEach(async () => {
      commands = [];
      store = await MongoStore.open({
        uri: testMongoUri(),
        database: `journeys_share_${randomUUID().slice(0, 8)}`,
        onCommand: (command, collection) => commands.push(`${command} ${collection}`),
      });
    });
    afterEach(() => store.close());

    it('inserts many callers\' documents in one command, each refused duplicate told to its own caller', async () => {
      await items().insertOne({ _id: 'taken', n: 0 });
      commands = [];
      const ids = ['a', 'taken', 'b', 'a', 'c'];
      const outcomes = await Promise.allSettled(ids.map((id, n) => items().insertOne({ _id: id, n })));
      expect(sent('insert')).to.equal(1);
      const refused = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as DuplicateKeyError).id : null));
      expect(refused).to.deep.equal([null, 'taken', null, 'a', null]);
      expect(outcomes.filter((o) => o.status === 'rejected').every((o) => (o as PromiseRejectedResult).reason instanceof DuplicateKeyError)).to.equal(true);
      expect(await all(items().find({}, { sort: { _id: 1 } }))).to.deep.equal([
        { _id: 'a', n: 0 },
        { _id: 'b', n: 2 },
        { _id: 'c', n: 4 },
        { _id: 'taken', n: 0 },
      ]);
    });

    it('fails only the caller whose document cannot be sent; the others are written', async () => {
      const tooLarge = 'x'.repeat(17 * 1024 * 1024);
      const outcomes = await Promise.allSettled([
        items().insertOne({ _id: 'small-1', n: 1 }),
        items().insertOne({ _id: 'huge', blob: tooLarge }),
        items().insertOne({ _id: 'small-2', n: 2 }),
      ]);
      expect(outcomes.map((o) => o.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
      expect((await all(items().find({}, { sort: { _id: 1 } }))).map((d) => d._id)).to.deep.equal(['small-1', 'small-2']);
    });

    it('looks up many callers\' documents by _id in one find, each caller its own copy', async () => {
      await items().insertMany([1, 2, 3, 4].map((n) => ({ _id: `d${n}`, n, label: `L${n}` })));
      commands = [];
      const [one, same, missing, listed, projected] = await Promise.all([
        items().findOne({ _id: 'd1' }),
        items().findOne({ _id: 'd1' }),
        items().findOne({ _id: 'nope' }),
        all(items().find({ _id: { $in: ['d2', 'd3', 'd2', 'nope'] } })),
        items().findOne({ _id: 'd4' }, { projection: { label: 1 } }),
      ]);
      expect(one).to.deep.equal({ _id: 'd1', n: 1, label: 'L1' });
      expect(same).to.deep.equal(one);
      expect(same, 'a separate object').to.not.equal(one);
      expect(missing).to.equal(null);
      expect(listed.map((d) => d._id).sort()).to.deep.equal(['d2', 'd3']);
      expect(projected, 'its own projection').to.deep.equal({ _id: 'd4', label: 'L4' });
      expect(sent('find'), 'one find for the whole documents, one for the projected').to.equal(2);
      // Anything else keeps its own command and its own meaning.
      expect(await items().findOne({ _id: 'd3', n: 2 })).to.equal(null);
      expect(await items().findOne({ _id: { $in: ['d1', 'd2'] } }, { sort: { n: -1 } })).to.deep.include({ _id: 'd2' });
    });

    it('updates many callers\' documents by _id in one command, a refused update failing its own caller only', async () => {
      await items().insertMany([{ _id: 'u1', n: 1 }, { _id: 'u2', label: 'not a number' }, { _id: 'u3', n: 3 }]);
      commands = [];
      const outcomes = await Promise.allSettled([
        items().updateById('u1', { $inc: { n: 10 } }),
        items().updateById('u2', { $inc: { label: 1 } }),
        items().updateById('u3', { $inc: { n: 10 } }),
        items().updateById('absent', { $inc: { n: 10 } }),
      ]);
      expect(sent('update')).to.equal(1);
      expect(outcomes.map((o) => o.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      // The batch matched two of the three it could apply: which ones, the server does not say.
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : 'refused'))).to.deep.equal(['unknown', 'refused', 'unknown', 'unknown']);
      expect(await all(items().find({}, { sort: { _id: 1 } }))).to.deep.equal([
        { _id: 'u1', n: 11 },
        { _id: 'u2', label: 'not a number' },
        { _id: 'u3', n: 13 },
      ]);
    });

    it('tells each caller of a shared update that matched when every accepted update of the batch did, or that missed when none did', async () => {
      await items().insertMany([{ _id: 'm1', n: 1 }, { _id: 'm2', label: 'not a number' }, { _id: 'm3', n: 3 }]);
      commands = [];
      const all = await Promise.allSettled([
        items().updateById('m1', { $inc: { n: 1 } }),
        items().updateById('m2', { $inc: { label: 1 } }),
        items().updateById('m3', { $inc: { n: 1 } }, { n: 3 }),
      ]);
      const none = await Promise.all([items().updateById('m1', { $inc: { n: 1 } }, { n: 0 }), items().updateById('gone', { $inc: { n: 1 } })]);
      expect(sent('update')).to.equal(2);
      expect(all.map((o) => (o.status === 'fulfilled' ? o.value : 'refused'))).to.deep.equal(['matched', 'refused', 'matched']);
      expect(none).to.deep.equal(['missed', 'missed']);
    });

    it('shares one collection object per name, so callers anywhere in the process share trips', () => {
      expect(store.collection('items')).to.equal(store.collection('items'));
    });
  });
});
