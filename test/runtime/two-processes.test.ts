/**
 * Two real Node-RED processes running the same flow on one MongoDB database: every wait
 * fires in exactly one of them.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COLLECTIONS, MongoStore, type JourneyInstance } from '../../lib/index.js';
import { nodeRedPackage, sleep } from '../support/node-red.js';
import { nodeRedSuite, type RunningNodeRed } from '../support/runtime.js';
import { testMongoUri } from '../support/stores.js';

const z = 'two-tab';
const flow = (database: string) => [
  { id: z, type: 'tab', label: 'two processes' },
  { id: 'tp-store', type: 'journey-store', backend: 'mongodb', database, credentials: { uri: testMongoUri() } },
  { id: 'tp-http', type: 'http in', z, x: 100, y: 100, url: '/two/events', method: 'post', wires: [['tp-in']] },
  {
    id: 'tp-in',
    type: 'event-in',
    z,
    x: 300,
    y: 100,
    store: 'tp-store',
    journey: 'shared',
    reentry: 'always',
    wires: [['tp-reply', 'tp-wait'], ['tp-reply']],
  },
  { id: 'tp-reply', type: 'http response', z, x: 500, y: 60, wires: [] },
  { id: 'tp-wait', type: 'wait', z, x: 500, y: 140, store: 'tp-store', mode: 'duration', amount: 1, unit: 'seconds', wires: [['tp-track'], []] },
  { id: 'tp-track', type: 'track', z, x: 700, y: 140, store: 'tp-store', milestone: 'after_wait', wires: [[]] },
];

describe(`two ${nodeRedPackage} processes on one MongoDB database`, function () {
  this.timeout(120_000);
  const suites = [nodeRedSuite('two-0'), nodeRedSuite('two-1')];
  const reds: RunningNodeRed[] = [];

  it('fires each wait exactly once', async () => {
    const database = `two_${randomUUID().slice(0, 8)}`;
    for (const suite of suites) {
      const red = await suite.start();
      reds.push(red);
      await red.deploy(flow(database));
    }
    await sleep(1000);
    const events = 20;
    for (let i = 0; i < events; i++) {
      // Half the events through each process: both enrol, both schedule, both fire.
      const r = await reds[i % 2]!.request('POST', '/two/events', { name: 'started', userId: `t${i}`, messageId: `tp-${i}` });
      expect(r.status, r.text).to.equal(200);
    }
    await sleep(5000);
    const store = await MongoStore.open({ uri: testMongoUri(), database });
    try {
      expect(await store.collection(COLLECTIONS.milestones).count({ name: 'after_wait' })).to.equal(events);
      const instances: JourneyInstance[] = [];
      for await (const i of store.collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'shared' })) instances.push(i);
      expect(instances).to.have.length(events);
      for (const instance of instances) expect(instance.path.map((s) => s.node)).to.deep.equal(['tp-in', 'tp-wait']);
    } finally {
      await store.close();
    }
    for (const red of reds) expect(red.output()).to.not.match(/\[error\]/);
    // The connection string went into credentials, not into the flow file.
    for (const { userDir } of suites) expect(await readFile(join(userDir, 'flows.json'), 'utf8')).to.not.include('mongodb://');
  });
});
