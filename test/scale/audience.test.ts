/**
 * A daily campaign over an audience of 50,000 profiles through the segment node in a real
 * Node-RED process on MongoDB (the test server), at a set rate: 48,000 of them entered the
 * journey on an earlier day (re-entry "once" refuses them), 2,000 are new and are enrolled
 * and sent on. Every profile comes out once, by the right output; the run keeps to its rate;
 * the process's heap stays flat — it holds a page of profiles, not the audience.
 * A real process rather than the test helper, whose spies keep every msg sent; on MongoDB
 * because there the profiles live in the server (the embedded store keeps every profile in
 * the process by design). Not all 50,000 new: the test server serialises writes, and each
 * write by _id with a condition reads on the order of every document (2 ms each at 50,000),
 * while a new profile costs four (gate, instance, completion, gate release).
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COLLECTIONS, findRun, gateId, MongoStore, type EntryGate, type Profile, type RunSummary } from '../../lib/index.js';
import { sleep } from '../support/node-red.js';
import { nodeRedSuite } from '../support/runtime.js';
import { profileDoc, testMongoUri } from '../support/stores.js';

const PROFILES = 60_000;
const MATCHING = 50_000; // all but each sixth
const NEW = 2_000; // the matching profiles from s-057600 on; the others entered before
const RATE = 1_000;
const FIRST_NEW = 's-057600';
/** Each profile carries about 1 KB of traits: holding the audience would add well over 50 MB. */
const NOTE = 'n'.repeat(1_000);

// The process measures its own heap after a collection, for the probe endpoint below.
const SETTINGS = `module.exports = {
  uiHost: '127.0.0.1',
  flowFile: 'flows.json',
  logging: { console: { level: 'info', metrics: false, audit: false } },
  editorTheme: { tours: false },
  telemetry: { enabled: false },
  functionGlobalContext: { heapUsed: () => { global.gc(); return process.memoryUsage().heapUsed; } },
};
`;

const z = 'scale-tab';
const flow = (database: string) => [
  { id: z, type: 'tab', label: 'audience at scale' },
  { id: 'sc-store', type: 'journey-store', backend: 'mongodb', database, credentials: { uri: testMongoUri() } },
  { id: 'sc-go', type: 'http in', z, x: 100, y: 100, url: '/scale/go', method: 'post', wires: [['sc-seg', 'sc-ok']] },
  { id: 'sc-ok', type: 'http response', z, x: 300, y: 60, wires: [] },
  {
    id: 'sc-seg',
    type: 'segment',
    z,
    x: 300,
    y: 140,
    store: 'sc-store',
    mode: 'audience',
    journey: 'big',
    reentry: 'once',
    rate: RATE,
    outputs: 3,
    rules: {
      match: 'all',
      rules: [
        { kind: 'trait', field: 'plan', op: 'eq', value: 'pro' },
        { kind: 'consent', channel: 'email', granted: true },
      ],
    },
    wires: [['sc-count'], ['sc-refused'], ['sc-summary']],
  },
  { id: 'sc-count', type: 'function', z, x: 500, y: 100, func: "flow.set('sent', (flow.get('sent') || 0) + 1);\nreturn null;", outputs: 1, wires: [[]] },
  { id: 'sc-refused', type: 'function', z, x: 500, y: 140, func: "flow.set('refused', (flow.get('refused') || 0) + 1);\nreturn null;", outputs: 1, wires: [[]] },
  { id: 'sc-summary', type: 'function', z, x: 500, y: 180, func: "flow.set('summary', msg.payload);\nreturn null;", outputs: 1, wires: [[]] },
  { id: 'sc-probe', type: 'http in', z, x: 100, y: 240, url: '/scale/probe', method: 'get', wires: [['sc-measure']] },
  {
    id: 'sc-measure',
    type: 'function',
    z,
    x: 300,
    y: 240,
    func: "msg.payload = { heap: global.get('heapUsed')(), sent: flow.get('sent') || 0, refused: flow.get('refused') || 0, summary: flow.get('summary') || null };\nreturn msg;",
    outputs: 1,
    wires: [['sc-reply']],
  },
  { id: 'sc-reply', type: 'http response', z, x: 500, y: 240, wires: [] },
];

interface Probe {
  heap: number;
  sent: number;
  refused: number;
  summary: RunSummary | null;
}

describe('a campaign over an audience of 50,000 profiles through the segment node in a real Node-RED process, on MongoDB', function () {
  this.timeout(300_000);
  const suite = nodeRedSuite('scale');

  it('takes each matching profile once, enrolling the new and refusing the entered, at the set rate, with a flat heap', async () => {
    const database = `scale_${randomUUID().slice(0, 8)}`;
    const seeding = await MongoStore.open({ uri: testMongoUri(), database });
    try {
      const at = new Date();
      const idOf = (i: number) => `s-${String(i).padStart(6, '0')}`;
      const profiles = seeding.collection<Profile>(COLLECTIONS.profiles);
      for (let start = 0; start < PROFILES; start += 5_000) {
        await profiles.insertMany(
          Array.from({ length: 5_000 }, (_, k) =>
            profileDoc(idOf(start + k), { traits: { plan: (start + k) % 6 === 5 ? 'free' : 'pro', note: NOTE }, consent: { email: { status: 'granted', at } } }, at),
          ),
        );
      }
      // Entered on an earlier day: their gates, with the instances long completed.
      const earlier = new Date(at.getTime() - 86_400_000);
      const before: EntryGate[] = [];
      for (let i = 0; i < PROFILES; i++) {
        const profileId = idOf(i);
        if (i % 6 !== 5 && profileId < FIRST_NEW) {
          before.push({ _id: gateId('big', profileId), journey: 'big', profileId, entries: 1, lastEnteredAt: earlier, liveInstance: null });
        }
      }
      expect(before).to.have.lengthOf(MATCHING - NEW);
      const gates = seeding.collection<EntryGate>(COLLECTIONS.entryGates);
      for (let i = 0; i < before.length; i += 5_000) await gates.insertMany(before.slice(i, i + 5_000));
    } finally {
      await seeding.close();
    }

    await writeFile(join(suite.userDir, 'settings.js'), SETTINGS);
    const red = await suite.start({ NODE_OPTIONS: '--expose-gc' });
    const deployed = await red.request('POST', '/flows', flow(database), { 'Node-RED-Deployment-Type': 'full' });
    expect(deployed.status, deployed.text).to.be.oneOf([200, 204]);
    const probe = async (): Promise<Probe> => {
      const r = await red.request('GET', '/scale/probe');
      expect(r.status, r.text).to.equal(200);
      return r.json as Probe;
    };
    await sleep(1_000);
    const baseline = (await probe()).heap;

    const began = Date.now();
    expect((await red.request('POST', '/scale/go', {})).status).to.equal(200);
    let peak = baseline;
    let last: Probe;
    do {
      await sleep(1_000);
      last = await probe();
      peak = Math.max(peak, last.heap);
      if (Date.now() - began > 2_000 * (MATCHING / RATE)) throw new Error(`the run took twice as long as its rate allows; sent ${last.sent}, refused ${last.refused}`);
      if (process.env.SCALE_TRACE) console.log(Date.now() - began, last.sent, last.refused, Math.round(last.heap / 2 ** 20));
    } while (!last.summary);
    const seconds = (Date.now() - began) / 1000;
    const growthMb = (peak - baseline) / 2 ** 20;
    console.log(
      `      ${MATCHING.toLocaleString('en-US')} through (${NEW.toLocaleString('en-US')} enrolled) in ${seconds.toFixed(1)} s (${Math.round(MATCHING / seconds)}/s, set to ${RATE}/s); ` +
        `heap ${Math.round(baseline / 2 ** 20)} MB at the start, at most +${growthMb.toFixed(1)} MB during the run`,
    );

    expect(last.summary).to.deep.include({ status: 'done', matched: MATCHING, entered: NEW, refused: MATCHING - NEW });
    expect(last.sent).to.equal(NEW);
    expect(last.refused).to.equal(MATCHING - NEW);
    // Never faster than set (the first tenth of a second's worth starts at once).
    expect(seconds).to.be.at.least((MATCHING / RATE) * 0.97);
    expect(growthMb).to.be.lessThan(40);

    const store = await MongoStore.open({ uri: testMongoUri(), database });
    try {
      // One instance each, every one completed: each msg reached the end of the flow once.
      expect(await store.collection(COLLECTIONS.instances).count({ journey: 'big' })).to.equal(NEW);
      // Completions are written in batches behind the msgs.
      const completed = () => store.collection(COLLECTIONS.instances).count({ journey: 'big', status: 'completed' });
      for (let i = 0; i < 120 && (await completed()) < NEW; i++) await sleep(1_000);
      expect(await completed()).to.equal(NEW);
      expect((await findRun(store, 'sc-seg'))?.status).to.equal('done');
    } finally {
      await store.close();
    }
    expect(red.output()).to.not.match(/\[error\]/);
  });
});
