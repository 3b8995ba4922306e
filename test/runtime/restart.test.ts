/**
 * Waits survive a crash: a real Node-RED process is killed with SIGKILL while instances
 * wait; after a restart the overdue waits fire once and the journeys carry on.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { COLLECTIONS, COMPLETED_REASON, EmbeddedStore, type JourneyInstance, type JourneyReport } from '../../lib/index.js';
import { eventually, nodeRedPackage, sleep } from '../support/node-red.js';
import { nodeRedSuite } from '../support/runtime.js';

const z = 'restart-tab';
const flow = [
  { id: z, type: 'tab', label: 'restart test' },
  { id: 'rs-store', type: 'journey-store', backend: 'embedded', directory: 'journeys-store' },
  { id: 'rs-http', type: 'http in', z, x: 100, y: 100, url: '/restart/events', method: 'post', wires: [['rs-in']] },
  {
    id: 'rs-in',
    type: 'event-in',
    z,
    x: 300,
    y: 100,
    store: 'rs-store',
    property: 'payload',
    journey: 'restart',
    reentry: 'always',
    wires: [['rs-reply', 'rs-wait'], ['rs-reply']],
  },
  { id: 'rs-reply', type: 'http response', z, x: 500, y: 60, wires: [] },
  { id: 'rs-wait', type: 'wait', z, x: 500, y: 140, store: 'rs-store', mode: 'duration', amount: 2, unit: 'seconds', wires: [['rs-track'], []] },
  { id: 'rs-track', type: 'track', z, x: 700, y: 140, store: 'rs-store', milestone: 'after_wait', wires: [[]] },
];

describe(`waits across a SIGKILL (real ${nodeRedPackage} process)`, function () {
  this.timeout(120_000);
  const suite = nodeRedSuite('restart');

  it('fires each overdue wait once after the restart, on the same instance and path', async () => {
    let red = await suite.start();
    await red.deploy(flow);
    for (let i = 0; i < 3; i++) {
      const r = await red.request('POST', '/restart/events', { name: 'started', userId: `k${i}`, messageId: `rs-${i}` });
      expect(r.status, r.text).to.equal(200);
    }
    // The HTTP reply leaves before the wait node has parked its msg (the two run side by side);
    // a moment later all three are in the store, and the kill lands mid-wait.
    await sleep(700);
    await red.stop('SIGKILL'); // nothing is shut down cleanly
    await sleep(2500); // the waits fall due while no process runs

    red = await suite.start();
    // Agenda's first scans pick up the overdue jobs; a clean stop then writes everything out.
    await eventually(async () => (((await red.request('GET', '/journeys/reports/restart')).json as JourneyReport).completed === 3 ? true : undefined), 30_000, 'the 3 journeys to complete');
    await red.stop();

    const store = await EmbeddedStore.open({ directory: join(suite.userDir, 'journeys-store') });
    try {
      expect(await store.collection(COLLECTIONS.milestones).count({ name: 'after_wait', journey: 'restart' })).to.equal(3);
      const instances: JourneyInstance[] = [];
      for await (const i of store.collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'restart' })) instances.push(i);
      expect(instances).to.have.length(3);
      for (const instance of instances) {
        // Resumed, tracked, and at the end of the flow: completed by the runtime's message hooks.
        expect(instance.status).to.equal('completed');
        expect(instance.endReason).to.equal(COMPLETED_REASON);
        expect(instance.path.map((s) => s.node)).to.deep.equal(['rs-in', 'rs-wait']);
      }
    } finally {
      await store.close();
    }
  });
});
