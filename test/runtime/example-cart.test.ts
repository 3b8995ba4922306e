/**
 * The example flow "Abandoned cart" in a real Node-RED process on its embedded store, senders
 * in outbox mode. Three carts: one buyer within the hour (converted, nothing sent), two who
 * do not buy (an A/B reminder email each when the hour is up), of whom only the high-value
 * cart gets the SMS a day later. The hour and the day pass while Node-RED is stopped (the
 * waits' jobs moved to now), so each step also crosses a restart.
 */
import { expect } from 'chai';
import { copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { COLLECTIONS, type Delivery, type JourneyInstance, type Store } from '../../lib/index.js';
import { daytimeZone, waitsFallDue, withEmbeddedStore } from '../support/examples.js';
import { all } from '../support/stores.js';
import { nodeRedPackage, sleep } from '../support/node-red.js';
import { nodeRedSuite } from '../support/runtime.js';

const root = resolve(__dirname, '../../..');

describe(`the example flow "Abandoned cart" (real ${nodeRedPackage} process, embedded store, outbox)`, function () {
  this.timeout(180_000);
  const suite = nodeRedSuite('example-cart');
  before(async () => {
    await copyFile(join(root, 'examples', 'Abandoned cart.json'), join(suite.userDir, 'flows.json'));
  });

  const withStore = <T>(work: (store: Store) => Promise<T>) => withEmbeddedStore(suite.userDir, work);
  const elapse = async (store: Store, node: string) => (await waitsFallDue(store, node)).map((i) => i.profileId);
  /** Runs Node-RED long enough for due waits to fire and their sends to finish. */
  async function runAWhile(): Promise<void> {
    const red = await suite.start();
    await sleep(3_000);
    expect(red.output()).to.not.match(/\[error\]/);
    await red.stop();
  }

  it('reminds those who did not buy, A or B, and texts only the high-value cart a day later', async () => {
    const timezone = daytimeZone();
    const red = await suite.start();
    const cart = (who: string, value: number, consent: Record<string, boolean>) =>
      red.request('POST', '/shop/events', {
        name: 'cart_abandoned',
        identities: { email: `${who}@example.com`, phone: `+4477009000${value}` },
        traits: { firstName: who, cartValue: value, timezone },
        consent,
        messageId: `cart-${who}`,
      });
    expect((await cart('ada', 180, { email: true, sms: true })).json).to.include({ entered: true });
    expect((await cart('bob', 50, { email: true, sms: true })).json).to.include({ entered: true });
    expect((await cart('cem', 300, { email: true, sms: true })).json).to.include({ entered: true });
    await sleep(500);
    const bought = await red.request('POST', '/shop/events', { name: 'purchase', identities: { email: 'cem@example.com' }, messageId: 'buy-cem' });
    expect(bought.json).to.include({ entered: false, reason: 'NOT_A_TRIGGER' });
    await sleep(500);
    await red.stop();

    // The hour passes without a purchase from Ada or Bob.
    const waited = await withStore(async (store) => {
      const instances = await all(store.collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'abandoned-cart' }));
      expect(instances.map((i) => i.status).sort()).to.deep.equal(['converted', 'waiting', 'waiting']);
      return elapse(store, 'ac-wait');
    });
    expect(waited).to.have.length(2);
    await runAWhile();

    // A reminder each, by branch; Ada's high-value cart now waits a day for the SMS, Bob's journey is done.
    await withStore(async (store) => {
      const mails = await all(store.collection<Delivery>(COLLECTIONS.deliveries).find({ channel: 'email' }));
      expect(mails.map((d) => d.to[0]).sort()).to.deep.equal(['ada@example.com', 'bob@example.com']);
      for (const d of mails) {
        expect(d).to.include({ status: 'sent', outbox: true });
        expect(d.node).to.equal(d.variant === 'A' ? 'ac-mail-a' : 'ac-mail-b');
      }
      const ada = mails.find((d) => d.to[0] === 'ada@example.com')!;
      expect(ada.content.subject).to.contain('ada'); // both reminders greet by first name
      const instances = await all(store.collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'abandoned-cart' }));
      expect(instances.map((i) => (i.status === 'waiting' ? `waiting@${i.waitingAt}` : i.status)).sort()).to.deep.equal(['completed', 'converted', 'waiting@ac-wait24']);
      expect(await elapse(store, 'ac-wait24')).to.have.length(1);
    });
    await runAWhile();

    await withStore(async (store) => {
      const texts = await all(store.collection<Delivery>(COLLECTIONS.deliveries).find({ channel: 'sms' }));
      expect(texts.map((d) => [d.to[0], d.status, d.outbox])).to.deep.equal([['+4477009000180', 'sent', true]]);
      expect(texts[0]!.content.body).to.equal('ada, your cart of 180 is still waiting: https://example.com/cart Reply STOP to opt out.');
      const instances = await all(store.collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'abandoned-cart' }));
      expect(instances.map((i) => i.status).sort()).to.deep.equal(['completed', 'completed', 'converted']);
    });
  });
});
