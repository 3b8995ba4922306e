/**
 * An audience run survives a crash: a real Node-RED process is killed with SIGKILL in the
 * middle of a paced run on MongoDB; after a restart the run resumes from its checkpoint
 * (once the dead process's lease has lapsed) and finishes, with one instance and one
 * milestone per matching profile: nobody enrolled or tracked twice, nobody missed.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { COLLECTIONS, findRun, LEASE_MS, MongoStore, type JourneyInstance, type Profile, type Store } from '../../lib/index.js';
import { nodeRedPackage, sleep } from '../support/node-red.js';
import { nodeRedSuite } from '../support/runtime.js';
import { profileDoc, testMongoUri } from '../support/stores.js';

const PROFILES = 1_800;
const MATCHING = 1_500; // all but each sixth
const RATE = 200;

const z = 'ar-tab';
const flow = (database: string) => [
  { id: z, type: 'tab', label: 'audience restart' },
  { id: 'ar-store', type: 'journey-store', backend: 'mongodb', database, credentials: { uri: testMongoUri() } },
  { id: 'ar-go', type: 'http in', z, x: 100, y: 100, url: '/audience/go', method: 'post', wires: [['ar-seg', 'ar-ok']] },
  { id: 'ar-ok', type: 'http response', z, x: 300, y: 60, wires: [] },
  {
    id: 'ar-seg',
    type: 'segment',
    z,
    x: 300,
    y: 140,
    store: 'ar-store',
    mode: 'audience',
    journey: 'winback',
    reentry: 'once',
    rate: RATE,
    outputs: 3,
    rules: { match: 'all', rules: [{ kind: 'trait', field: 'plan', op: 'eq', value: 'pro' }] },
    wires: [['ar-track'], [], []],
  },
  { id: 'ar-track', type: 'track', z, x: 500, y: 140, store: 'ar-store', milestone: 'campaign_sent', wires: [[]] },
];

describe(`an audience run across a SIGKILL (real ${nodeRedPackage} process, MongoDB)`, function () {
  this.timeout(180_000);
  const suite = nodeRedSuite('audience-restart');
  let store: Store | undefined;
  after(async () => {
    await store?.close();
  });

  it('resumes after the restart and enrols and tracks each matching profile exactly once', async () => {
    const database = `ar_${randomUUID().slice(0, 8)}`;
    store = await MongoStore.open({ uri: testMongoUri(), database });
    await store
      .collection<Profile>(COLLECTIONS.profiles)
      .insertMany(Array.from({ length: PROFILES }, (_, i) => profileDoc(`r-${String(i).padStart(5, '0')}`, { traits: { plan: i % 6 === 5 ? 'free' : 'pro' } })));

    let red = await suite.start();
    await red.deploy(flow(database));
    expect((await red.request('POST', '/audience/go', {})).status).to.equal(200);
    // Past a few checkpoints, well before the end (1,500 at 200/s take 7.5 s).
    await sleep(3_000);
    await red.stop('SIGKILL');

    const atCrash = await findRun(store, 'ar-seg');
    expect(atCrash?.status).to.equal('running');
    expect(atCrash!.entered).to.be.greaterThan(0).and.lessThan(MATCHING);
    const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
    const enrolledAtCrash = await instances.count({ journey: 'winback' });

    red = await suite.start();
    // The dead process's lease lapses, then the restarted node takes the run over and finishes it.
    const deadline = Date.now() + LEASE_MS + 60_000;
    while ((await findRun(store, 'ar-seg'))?.status === 'running') {
      if (Date.now() > deadline) throw new Error('the run did not finish after the restart');
      await sleep(500);
    }
    const run = await findRun(store, 'ar-seg');
    expect(run).to.deep.include({ status: 'done', runId: atCrash!.runId, entered: MATCHING, refused: 0 });

    const enrolled: JourneyInstance[] = [];
    for await (const i of instances.find({ journey: 'winback' })) enrolled.push(i);
    expect(enrolled.length).to.equal(MATCHING);
    expect(new Set(enrolled.map((i) => i.profileId)).size).to.equal(MATCHING);
    expect(enrolledAtCrash).to.be.lessThan(MATCHING);
    // Each msg went on to track once: a msg sent again after the crash (its instance had not
    // moved on) carries the same instance, and track keeps one milestone per instance.
    const milestones = await store.collection(COLLECTIONS.milestones).aggregate<{ _id: string; n: number }>([
      { $match: { name: 'campaign_sent' } },
      { $group: { _id: '$profileId', n: { $sum: 1 } } },
    ]);
    expect(milestones.length).to.equal(MATCHING);
    expect(milestones.filter((m) => m.n !== 1)).to.deep.equal([]);
    expect(red.output()).to.not.match(/\[error\]/);
  });
});
