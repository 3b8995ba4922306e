/**
 * The embedded store's journal compacting inside a real Node-RED process while events keep
 * arriving over HTTP, then a SIGKILL: every event acknowledged before the kill is there
 * afterwards, counted once on its person's profile. The lib tests do the same with a bare
 * child process; here the store is the one a journey-store config node opens, with the
 * runtime's own load beside the compaction thread. Breaking the copy of the lines written
 * during a compaction loses a few hundred events here.
 */
import { expect } from 'chai';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { COLLECTIONS, EmbeddedStore, type Profile } from '../../lib/index.js';
import { eventually, nodeRedPackage } from '../support/node-red.js';
import { nodeRedSuite } from '../support/runtime.js';

const z = 'compaction-tab';
const flow = [
  { id: z, type: 'tab', label: 'journal compaction test' },
  { id: 'jc-store', type: 'journey-store', backend: 'embedded', directory: 'journeys-store' },
  { id: 'jc-http', type: 'http in', z, x: 100, y: 100, url: '/compaction/events', method: 'post', wires: [['jc-in']] },
  { id: 'jc-in', type: 'event-in', z, x: 300, y: 100, store: 'jc-store', property: 'payload', journey: '', wires: [['jc-reply'], ['jc-reply']] },
  { id: 'jc-reply', type: 'http response', z, x: 500, y: 100, wires: [] },
];

/** The store compacts past 16 MB: events of about 12 KB each cross that in some 1,400. */
const BLOB = 'x'.repeat(12_000);
const PEOPLE = 40;
const IN_FLIGHT = 8;

describe(`the embedded journal compacting in a real ${nodeRedPackage} process, then a SIGKILL`, function () {
  this.timeout(240_000);
  const suite = nodeRedSuite('compaction');

  it('keeps every acknowledged event, counted once, across compactions and the kill', async () => {
    const red = await suite.start();
    await red.deploy(flow);
    const journal = join(suite.userDir, 'journeys-store', 'journal.jsonl');
    const acknowledged = new Map<string, number>();
    let sent = 0;
    // A compaction ends by renaming its file over the journal: a new inode.
    const firstInode = (await stat(journal)).ino;
    let swapped = false;
    const post = async () => {
      const i = sent++;
      const userId = `jc-u${i % PEOPLE}`;
      const r = await red.request('POST', '/compaction/events', { name: 'viewed', userId, messageId: `jc-${i}`, properties: { blob: BLOB, i } });
      expect(r.status, r.text).to.equal(200);
      acknowledged.set(userId, (acknowledged.get(userId) ?? 0) + 1);
    };
    const watch = async () => {
      if ((await stat(journal)).ino !== firstInode) swapped = true;
    };
    // Until a compaction has been swapped in, the writes going on beside it; at most 6,000 events (70 MB).
    while (!swapped && sent < 6_000) {
      await Promise.all(Array.from({ length: IN_FLIGHT }, post));
      await watch();
    }
    // At the lowest priority a compaction waits for a busy machine to ease: it does once the posts stop.
    await eventually(async () => (await watch(), swapped || undefined), 60_000, 'a compacted journal swapped in');
    // More events after the swap, then the kill lands with none of them shut down cleanly.
    for (let k = 0; k < 20; k++) await Promise.all(Array.from({ length: IN_FLIGHT }, post));
    await red.stop('SIGKILL');

    const store = await EmbeddedStore.open({ directory: join(suite.userDir, 'journeys-store') });
    try {
      expect(await store.collection(COLLECTIONS.events).count({ status: 'processed' })).to.equal(sent);
      const counts = new Map<string, number>();
      for await (const p of store.collection<Profile>(COLLECTIONS.profiles).find({})) {
        counts.set(p.identities.userId![0]!, p.aggregates.viewed?.count ?? 0);
      }
      expect(Object.fromEntries(counts)).to.deep.equal(Object.fromEntries(acknowledged));
    } finally {
      await store.close();
    }
  });
});
