/**
 * The example flow "Re-engagement campaign" in a real Node-RED process on its embedded
 * store: profiles inactive for 40 days (with and without email consent) and one active
 * today; the daily inject is pressed through the admin API; the audience run mails the
 * inactive ones with consent, once each, to the outbox, and tracks each send.
 */
import { expect } from 'chai';
import { copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { COLLECTIONS, EmbeddedStore, findRun, type Delivery, type Profile } from '../../lib/index.js';
import { nodeRedPackage, sleep } from '../support/node-red.js';
import { nodeRedSuite } from '../support/runtime.js';
import { withEmbeddedStore } from '../support/examples.js';
import { all, profileDoc } from '../support/stores.js';

const root = resolve(__dirname, '../../..');
const DAY = 86_400_000;

describe(`the example flow "Re-engagement campaign" (real ${nodeRedPackage} process, embedded store, outbox)`, function () {
  this.timeout(120_000);
  const suite = nodeRedSuite('example-reengage');

  it('mails everyone inactive for 30 days with email consent, once, when the campaign runs', async () => {
    await copyFile(join(root, 'examples', 'Re-engagement campaign.json'), join(suite.userDir, 'flows.json'));
    const granted = { email: { status: 'granted' as const, at: new Date() } };
    const store = await EmbeddedStore.open({ directory: join(suite.userDir, 'journeys-store') });
    const longAgo = new Date(Date.now() - 40 * DAY);
    await store.collection<Profile>(COLLECTIONS.profiles).insertMany([
      profileDoc('quiet-1', { traits: { firstName: 'Ann', email: 'ann@example.com' }, consent: granted }, longAgo),
      profileDoc('quiet-2', { traits: { firstName: 'Bo', email: 'bo@example.com' }, consent: granted }, longAgo),
      profileDoc('quiet-no-consent', { traits: { email: 'nc@example.com' } }, longAgo),
      profileDoc('active', { traits: { email: 'act@example.com' }, consent: granted }, new Date()),
    ]);
    await store.close();

    const red = await suite.start();
    for (let press = 0; press < 2; press++) {
      const pressed = await red.request('POST', '/inject/rg-cron');
      expect(pressed.status, pressed.text).to.equal(200);
      // 2 profiles at 20/s: the run is over in well under this.
      await sleep(2_500);
    }
    await red.stop();

    await withEmbeddedStore(suite.userDir, async (after) => {
      const mails = await all(after.collection<Delivery>(COLLECTIONS.deliveries).find({ node: 'rg-mail' }));
      expect(mails.map((d) => [d.to[0], d.status, d.outbox]).sort()).to.deep.equal([
        ['ann@example.com', 'sent', true],
        ['bo@example.com', 'sent', true],
      ]);
      expect(mails.find((d) => d.to[0] === 'ann@example.com')!.content.subject).to.equal('We miss you, Ann');
      // The second press enrols nobody again (once a month): two milestones in all.
      expect(await after.collection(COLLECTIONS.milestones).count({ name: 'winback_sent' })).to.equal(2);
      expect(await findRun(after, 'rg-seg')).to.deep.include({ status: 'done', entered: 0, refused: 2 });
    });
  });
});
