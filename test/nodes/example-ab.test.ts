/**
 * The example flow "A/B test of an offer" as imported, in a real Node-RED runtime
 * (node-red-node-test-helper) with its http in and http response nodes on real HTTP: every
 * call to /promo/events is answered, also the one whose journey a goal ended between
 * event-in and the split (which sends nothing on for it), and the one the split fails on.
 * Node-RED's message hooks hold the msg just before the split while that happens.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { COLLECTIONS, type Delivery, type JourneyInstance } from '../../lib/index.js';
import sendEmail = require('../../nodes/send-email/send-email.js');
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { coreNode, helper, journeyNodes, useHttpNodeServer, type FlowNode } from '../support/node-red.js';
import { all } from '../support/stores.js';
import { forEachBackend, useHelperRuntime } from './flows.js';

const EXAMPLE = JSON.parse(readFileSync(resolve(__dirname, '../../../examples/A-B test of an offer.json'), 'utf8')) as FlowNode[];
const STORE_ID = EXAMPLE.find((n) => n.type === 'journey-store')!.id;
const SPLIT = 'ab-split';

interface SendEvent {
  destination: { id: string };
  msg: Record<string, unknown>;
}
interface Hooks {
  add(name: string, hook: (event: SendEvent) => Promise<void> | void): void;
  remove(name: string): void;
}
const hooks = (helper as unknown as { _RED: { hooks: Hooks } })._RED.hooks;

const coreNodes = ['common/20-inject.js', 'common/24-complete.js', 'common/25-catch.js', 'common/90-comment.js', 'function/10-switch.js', 'function/15-change.js', 'network/21-httpin.js'].map(coreNode);

describe('the example flow "A/B test of an offer" answers every call', function () {
  this.timeout(30_000);
  useHelperRuntime();
  const web = useHttpNodeServer();
  afterEach(() => hooks.remove('*.example-ab'));

  forEachBackend((ctx) => {
    async function load(): Promise<void> {
      // The example's own store node, on the backend under test.
      const nodes = EXAMPLE.map((n) => (n.id === STORE_ID ? { ...ctx.store.node, id: STORE_ID } : n));
      const credentials = ctx.store.credentials.store ? { [STORE_ID]: ctx.store.credentials.store } : {};
      await helper.load([...journeyNodes, sendEmail, ...coreNodes, web.capture], nodes, credentials);
    }
    const store = () => (helper.getNode(STORE_ID) as unknown as JourneyStoreConfigNode).getStore();

    async function post(event: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
      const response = await fetch(`${web.url()}/promo/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event), signal: AbortSignal.timeout(10_000) });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    }
    const start = (email: string) => post({ name: 'promo_start', identities: { email }, traits: { firstName: 'Ada' }, messageId: `start-${email}` });
    /** Runs `before` each time a msg of `email` is about to reach the split. */
    function beforeTheSplit(email: string, before: (msg: Record<string, unknown>) => Promise<void> | void): void {
      hooks.add('preDeliver.example-ab', async (event) => {
        const identities = (event.msg.payload as { identities?: { email?: string } } | undefined)?.identities;
        if (event.destination.id === SPLIT && identities?.email === email) await before(event.msg);
      });
    }

    it('with the variant the split chose', async () => {
      await load();
      const answer = await start('ada@example.com');
      expect(answer.status).to.equal(200);
      expect(answer.json.variant).to.be.oneOf(['A', 'B']);
      expect(answer.json.delivery).to.equal('sent');
    });

    it('without a variant when a purchase ended the journey before the split', async () => {
      await load();
      let purchase: { status: number; json: Record<string, unknown> } | undefined;
      beforeTheSplit('bo@example.com', async () => {
        purchase = await post({ name: 'purchase', identities: { email: 'bo@example.com' }, messageId: 'buy-bo' });
      });
      const answer = await start('bo@example.com');

      expect(purchase?.json.error, 'the purchase came first').to.equal('NOT_A_TRIGGER');
      expect(answer.status).to.equal(200);
      expect(answer.json).to.have.property('profileId').that.is.a('string');
      expect(answer.json).to.not.have.property('variant');
      const s = await store();
      const [instance] = await all(s.collection<JourneyInstance>(COLLECTIONS.instances).find({ profileId: answer.json.profileId as string }));
      expect(instance?.status).to.equal('converted');
      expect(await s.collection<Delivery>(COLLECTIONS.deliveries).count({})).to.equal(0);
    });

    it('with 500 and the error when the split fails', async () => {
      await load();
      // A msg without its profile is one the split refuses (NO_PROFILE).
      beforeTheSplit('cy@example.com', (msg) => {
        delete msg.profileId;
        delete msg.profile;
      });
      const answer = await start('cy@example.com');
      expect(answer.status).to.equal(500);
      expect(answer.json.error).to.be.a('string').and.not.equal('');
      expect(await (await store()).collection<Delivery>(COLLECTIONS.deliveries).count({})).to.equal(0);
    });
  });
});
