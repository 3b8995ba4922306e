/**
 * Mocha root hooks: one MongoDB-wire server for the whole run. When none can be started
 * the run fails here, loudly: the MongoDB adapter tests never skip.
 */
import { startTestMongo, type TestMongo } from './mongo-server.js';

let mongo: TestMongo | undefined;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(180_000);
    mongo = await startTestMongo();
    process.env.JOURNEYS_TEST_MONGODB_URI = mongo.uri;
    console.log(`  MongoDB for these tests: ${mongo.server} at ${mongo.uri}`);
  },
  async afterAll(): Promise<void> {
    await mongo?.stop();
  },
};
