/**
 * The example flow "Welcome series", as a user gets it from Import ▸ Examples: run in a real
 * Node-RED process on its embedded store with the senders in outbox mode. Two people sign
 * up; one buys; two days later (the wait's job moved to now while Node-RED is stopped, so
 * the restart finds it overdue) only the one who did not buy gets the tips email.
 */
import { expect } from 'chai';
import { copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { COLLECTIONS, type Delivery, type JourneyInstance, type Profile, type Store } from '../../lib/index.js';
import { waitsFallDue, withEmbeddedStore } from '../support/examples.js';
import { all } from '../support/stores.js';
import { nodeRedPackage, sleep } from '../support/node-red.js';
import { nodeRedSuite, type RunningNodeRed } from '../support/runtime.js';

const root = resolve(__dirname, '../../..');

describe(`the example flow "Welcome series" (real ${nodeRedPackage} process, embedded store, outbox)`, function () {
  this.timeout(180_000);
  const suite = nodeRedSuite('example-welcome');
  /** The process running now, which `post` sends to. */
  let red: RunningNodeRed | undefined;

  before(async () => {
    await copyFile(join(root, 'examples', 'Welcome series.json'), join(suite.userDir, 'flows.json'));
  });

  const withStore = <T>(work: (store: Store) => Promise<T>) => withEmbeddedStore(suite.userDir, work);
  const post = (body: unknown) => red!.request('POST', '/journeys/welcome/events', body);

  it('mails a welcome at sign-up, and after two days the tips only to those who did not buy', async () => {
    red = await suite.start();
    const ada = await post({ name: 'signed_up', identities: { email: 'ada@example.com' }, traits: { firstName: 'Ada', plan: 'pro' }, consent: { email: true }, messageId: 'w-1' });
    expect(ada.status, ada.text).to.equal(202);
    expect(ada.json).to.deep.include({ accepted: true, entered: true });
    const bob = await post({ name: 'signed_up', identities: { email: 'bob@example.com' }, traits: { firstName: 'Bob' }, consent: { email: true }, messageId: 'w-2' });
    expect(bob.status).to.equal(202);
    const eve = await post({ name: 'signed_up', identities: { email: 'eve@example.com' }, traits: { firstName: 'Eve' }, messageId: 'w-3' });
    expect(eve.status).to.equal(202); // no consent given: entered, but not mailed
    const bad = await post({ name: 'signed_up', identities: { email: 42 } });
    expect(bad.status).to.equal(400);
    await sleep(1_000);
    // Bob buys: the journey's goal. Recorded, not a new entry.
    const bought = await post({ name: 'first_purchase', identities: { email: 'bob@example.com' }, properties: { total: 42 }, messageId: 'w-4' });
    expect(bought.status, bought.text).to.equal(202);
    expect(bought.json).to.deep.include({ accepted: true, entered: false });
    await sleep(500);
    await red.stop();

    // Two days pass: the waits' jobs fall due (moved to now while nothing runs).
    const parked = await withStore(async (store) => {
      const deliveries = await all(store.collection<Delivery>(COLLECTIONS.deliveries).find({}));
      const welcome = deliveries.filter((d) => d.node === 's1');
      expect(welcome.map((d) => [d.to[0], d.status, d.outbox, d.reason ?? null]).sort()).to.deep.equal([
        ['ada@example.com', 'sent', true, null],
        ['bob@example.com', 'sent', true, null],
        ['eve@example.com', 'skipped', true, 'no-consent'],
      ]);
      expect(welcome.find((d) => d.to[0] === 'ada@example.com')!.content.subject).to.equal('Welcome, Ada!');
      const instances = await all(store.collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'welcome-series' }));
      const byStatus = instances.map((i) => i.status).sort();
      // Ada waits; Bob converted; Eve's msg ended at the not-sent output, completing her instance.
      expect(byStatus).to.deep.equal(['completed', 'converted', 'waiting']);
      return (await waitsFallDue(store, 'w1')).length;
    });
    expect(parked).to.equal(1);

    red = await suite.start();
    await sleep(3_000);
    await red.stop();

    await withStore(async (store) => {
      const tips = await all(store.collection<Delivery>(COLLECTIONS.deliveries).find({ node: 's2' }));
      expect(tips.map((d) => [d.to[0], d.status])).to.deep.equal([['ada@example.com', 'sent']]);
      expect(tips[0]!.content.subject).to.equal('Ada, three tips for your pro plan');
      const profiles = await all(store.collection<Profile>(COLLECTIONS.profiles).find({}));
      expect(profiles.find((p) => p.identities.email?.includes('bob@example.com'))!.aggregates.first_purchase?.count).to.equal(1);
      const milestones = await store.collection(COLLECTIONS.milestones).count({ name: 'tips_sent' });
      expect(milestones).to.equal(1);
    });
  });
});
