// Smoke test of the tests' MongoDB-wire server: starts it as the tests do (MONGODB_URI, else
// mongo-java-server through the compiled launcher) and tries each operation the MongoDB store
// leans on, one by one, so an unsupported operator shows up by name.
// Run after `npm run build`:  node test/support/mongo-server.check.mjs
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';

const launcher = new URL('../../dist/test/support/mongo-server.js', import.meta.url);
const { startTestMongo } = await import(launcher.href).catch((err) => {
  console.error(`cannot load ${launcher.pathname} (run \`npm run build\` first): ${err.message}`);
  process.exit(2);
});

const checks = {
  'insertOne + findOne': async (c) => {
    const { insertedId } = await c.insertOne({ name: 'ada', n: 1 });
    const doc = await c.findOne({ _id: insertedId });
    assert.equal(doc?.name, 'ada');
  },
  'updateOne $inc': async (c) => {
    await c.insertOne({ _id: 'inc', n: 1 });
    await c.updateOne({ _id: 'inc' }, { $inc: { n: 2, m: 1 } });
    assert.deepEqual(await c.findOne({ _id: 'inc' }), { _id: 'inc', n: 3, m: 1 });
  },
  'updateOne $push with $each + $slice': async (c) => {
    await c.insertOne({ _id: 'push', xs: [1, 2, 3] });
    await c.updateOne({ _id: 'push' }, { $push: { xs: { $each: [4, 5], $slice: -3 } } });
    assert.deepEqual((await c.findOne({ _id: 'push' }))?.xs, [3, 4, 5]);
  },
  'updateOne upsert with $setOnInsert': async (c) => {
    const update = (v) => ({ $setOnInsert: { created: v }, $set: { seen: v } });
    const first = await c.updateOne({ _id: 'up' }, update(1), { upsert: true });
    assert.equal(first.upsertedId, 'up');
    await c.updateOne({ _id: 'up' }, update(2), { upsert: true });
    assert.deepEqual(await c.findOne({ _id: 'up' }), { _id: 'up', created: 1, seen: 2 });
  },
  "findOneAndUpdate returnDocument 'after'": async (c) => {
    await c.insertOne({ _id: 'fau', n: 1 });
    const after = await c.findOneAndUpdate({ _id: 'fau' }, { $inc: { n: 1 } }, { returnDocument: 'after' });
    assert.deepEqual(after, { _id: 'fau', n: 2 });
    const upserted = await c.findOneAndUpdate({ _id: 'fau2' }, { $set: { n: 7 } }, { upsert: true, returnDocument: 'after' });
    assert.deepEqual(upserted, { _id: 'fau2', n: 7 });
  },
  'createIndex unique + duplicate key error 11000': async (c) => {
    await c.createIndex({ email: 1 }, { unique: true });
    await c.insertOne({ email: 'a@example.com' });
    await assert.rejects(c.insertOne({ email: 'a@example.com' }), (err) => err.code === 11000);
    await assert.rejects(
      c.updateOne({ email: 'b@example.com' }, { $set: { email: 'a@example.com' } }, { upsert: true }),
      (err) => err.code === 11000,
    );
  },
  countDocuments: async (c) => {
    await c.insertMany([{ k: 1 }, { k: 1 }, { k: 2 }]);
    assert.equal(await c.countDocuments({ k: 1 }), 2);
    assert.equal(await c.countDocuments({}, { limit: 1 }), 1);
  },
  'aggregate $match + $group + $sort': async (c) => {
    await c.insertMany([{ g: 'a', v: 1 }, { g: 'a', v: 2 }, { g: 'b', v: 5 }]);
    const out = await c
      .aggregate([{ $match: { v: { $gte: 1 } } }, { $group: { _id: '$g', total: { $sum: '$v' }, n: { $sum: 1 } } }, { $sort: { _id: 1 } }])
      .toArray();
    assert.deepEqual(out, [{ _id: 'a', total: 3, n: 2 }, { _id: 'b', total: 5, n: 1 }]);
  },
  '$expr query': async (c) => {
    await c.insertMany([{ _id: 1, used: 3, max: 5 }, { _id: 2, used: 5, max: 5 }]);
    const docs = await c.find({ $expr: { $lt: ['$used', '$max'] } }).toArray();
    assert.deepEqual(docs.map((d) => d._id), [1]);
  },
  '$elemMatch query': async (c) => {
    await c.insertMany([
      { _id: 1, steps: [{ id: 's1', state: 'done' }, { id: 's2', state: 'waiting' }] },
      { _id: 2, steps: [{ id: 's1', state: 'waiting' }, { id: 's2', state: 'done' }] },
    ]);
    const docs = await c.find({ steps: { $elemMatch: { id: 's2', state: 'waiting' } } }).toArray();
    assert.deepEqual(docs.map((d) => d._id), [1]);
  },
};

const mongo = await startTestMongo();
console.log(`server: ${mongo.server} at ${mongo.uri}`);
const client = new MongoClient(mongo.uri, { serverSelectionTimeoutMS: 5000 });
const db = client.db(`journeys_check_${process.pid}`);
let passed = 0;
let failed = 0;
try {
  await client.connect();
  for (const [name, check] of Object.entries(checks)) {
    // A collection per check, so one failure cannot leave state for the next.
    const collection = db.collection(name.replace(/\W+/g, '_'));
    try {
      await check(collection);
      passed += 1;
      console.log(`  ok    ${name}`);
    } catch (err) {
      failed += 1;
      console.log(`  FAIL  ${name}: ${(err.message ?? String(err)).split('\n')[0]}`);
    }
  }
  await db.dropDatabase().catch(() => {});
} finally {
  await client.close();
  await mongo.stop();
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
