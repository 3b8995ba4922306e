/** What only the MongoDB adapter has to get right: indexes at open, and a clear refusal. */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { INDEXES, MongoStore } from '../../lib/index.js';
import { testMongoUri } from '../support/stores.js';

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
});
