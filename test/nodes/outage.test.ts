/**
 * A store outage under traffic: a MongoDB-wire server of this test's own is frozen
 * (SIGSTOP) for 30 s while an event arrives every second and a wait falls due, then thawed. Nothing may be
 * lost silently — every event ends entered, refused, or reported to Catch with an error a
 * sender can retry on — the wait that fell due fires after the outage, and each entered
 * instance gets its email exactly once.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { NodeMessageInFlow } from 'node-red';
import { COLLECTIONS, MongoStore, type Delivery, type JourneyInstance } from '../../lib/index.js';
import { startTestMongo, type TestMongo } from '../support/mongo-server.js';
import { coreNode, eventually, helper, journeyNodes, sleep } from '../support/node-red.js';
import { catchAll, helperNode, node, tab, useHelperRuntime } from './flows.js';
import sendEmail = require('../../nodes/send-email/send-email.js');

const catchNode = coreNode('common/25-catch.js');
const OUTAGE_MS = 30_000;

describe('a store outage under traffic (MongoDB server frozen for 30 s)', function () {
  this.timeout(240_000);
  useHelperRuntime();
  let mongo: TestMongo;
  before(async () => {
    mongo = await startTestMongo();
    if (!mongo.pause) throw new Error('this test freezes a server it started itself: unset MONGODB_URI');
  });
  after(async () => {
    mongo.resume?.();
    await mongo.stop();
  });

  it('loses nothing, fires the wait that fell due after the outage, and sends each email once', async () => {
    const database = `outage_${randomUUID().slice(0, 8)}`;
    const flow = [
      tab(),
      { id: 'store', type: 'journey-store', backend: 'mongodb', database },
      node('in', 'event-in', { store: 'store', journey: 'o', trigger: 'go', reentry: 'always' }, [['entered', 'wait'], ['refused']]),
      node('wait', 'wait', { store: 'store', mode: 'duration', amount: 3, unit: 'seconds' }, [['mail'], []]),
      node('mail', 'send-email', { store: 'store', account: '', subject: 'Hi', text: 'Hi', html: '', consent: 'opt-out' }, [['sent'], ['not-sent']]),
      helperNode('entered'),
      helperNode('refused'),
      helperNode('sent'),
      helperNode('not-sent'),
      catchAll('caught'),
      helperNode('caught'),
    ];
    await helper.load([...journeyNodes, sendEmail, catchNode], flow, { store: { uri: mongo.uri } });
    const ends = new Map<string, string[]>();
    for (const how of ['entered', 'refused', 'caught']) {
      helper.getNode(how).on('input', (msg: NodeMessageInFlow) => {
        const id = (msg.payload as { messageId?: string } | undefined)?.messageId ?? '?';
        ends.set(id, [...(ends.get(id) ?? []), how]);
      });
    }
    const post = (id: string) => helper.getNode('in').receive({ payload: { name: 'go', identities: { email: `${id}@example.com` }, messageId: id } });

    post('before');
    await eventually(() => ends.get('before'), 5_000, 'the first event');
    expect(ends.get('before')).to.deep.equal(['entered']);
    // Its 3 s wait falls due during the outage.
    mongo.pause!();
    const frozenAt = Date.now();
    const during: string[] = [];
    while (Date.now() - frozenAt < OUTAGE_MS) {
      const id = `during-${during.length + 1}`;
      during.push(id);
      post(id);
      await sleep(1_000);
    }
    mongo.resume!();
    post('after');

    // Every event ends somewhere: entered late, or reported with an error to retry on.
    await eventually(() => ([...during, 'after'].every((id) => ends.has(id)) ? true : undefined), 90_000, 'every event to end');
    for (const id of during) expect(ends.get(id)!.every((how) => how === 'entered' || how === 'caught'), `${id}: ${ends.get(id)}`).to.equal(true);
    expect(ends.get('after')).to.deep.equal(['entered']);
    // A sender retries what was reported: the same messageId either enters now or is known already.
    const caught = during.filter((i) => ends.get(i)!.includes('caught'));
    for (const id of caught) {
      ends.delete(id);
      post(id);
    }
    await eventually(() => (caught.every((id) => ends.has(id)) ? true : undefined), 60_000, 'the retried events');
    expect(caught.filter((id) => ends.get(id)!.includes('caught')), 'retried events failing again').to.deep.equal([]);

    const store = await MongoStore.open({ uri: mongo.uri, database });
    try {
      const read = async () => {
        const instances: JourneyInstance[] = [];
        for await (const i of store.collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'o' })) instances.push(i);
        const deliveries: Delivery[] = [];
        for await (const d of store.collection<Delivery>(COLLECTIONS.deliveries).find({})) deliveries.push(d);
        return { instances, deliveries };
      };
      // Each instance's wait fires and its email goes out (the instance completes when its msg has passed the send).
      const { instances, deliveries } = await eventually(
        async () => {
          const now = await read();
          return now.instances.every((i) => i.status === 'completed') && now.deliveries.every((d) => d.status === 'sent') ? now : undefined;
        },
        60_000,
        'every instance to complete with its email sent',
      ).catch(async (err: Error) => {
        const now = await read();
        throw new Error(`${err.message}: ${JSON.stringify(now.instances.map((i) => [i.profileId, i.status, i.waitingAt ?? null]))} ${JSON.stringify(now.deliveries.map((d) => [d.to[0], d.status, d.reason ?? null]))}`);
      });
      // One instance for every event sent, none twice: each event names its own person.
      expect(instances.map((i) => i.profileId), 'instances').to.have.length(during.length + 2);
      expect(new Set(instances.map((i) => i.profileId)).size, 'people with an instance').to.equal(during.length + 2);
      expect(deliveries.map((d) => d.instanceId).sort()).to.deep.equal(instances.map((i) => i._id).sort());
      expect(deliveries.map((d) => d.to[0])).to.include.members(['before@example.com', 'after@example.com']);
    } finally {
      await store.close();
    }
  });

  it('lets a redeploy close its store while the server is frozen, within the close limit of the runtime, and works again once it thaws', async () => {
    const database = `outage_${randomUUID().slice(0, 8)}`;
    const flow = [
      tab(),
      { id: 'store', type: 'journey-store', backend: 'mongodb', database },
      node('in', 'event-in', { store: 'store', journey: 'o', trigger: 'go', reentry: 'always' }, [['entered', 'wait'], ['refused']]),
      node('wait', 'wait', { store: 'store', mode: 'duration', amount: 1, unit: 'hours' }, [[], []]),
      helperNode('entered'),
      helperNode('refused'),
    ];
    const credentials = { store: { uri: mongo.uri } };
    await helper.load(journeyNodes, flow, credentials);
    const entered = (id: string) => {
      const next = new Promise<NodeMessageInFlow>((resolve) => helper.getNode('entered').once('input', resolve));
      helper.getNode('in').receive({ payload: { name: 'go', identities: { email: `${id}@example.com` }, messageId: id } });
      return next;
    };
    // The store is open, Agenda runs and holds a timer: everything close has to hand over.
    await entered('first');
    mongo.pause!();
    let redeployed: number;
    try {
      const started = Date.now();
      await helper.setFlows(flow, 'full', credentials);
      redeployed = Date.now() - started;
    } finally {
      mongo.resume!();
    }
    // The runtime's own message, by its text or, untranslated in the test helper, its key.
    const timedOut = (helper.log().args as Array<[{ msg?: unknown }]>).filter(([e]) => /Close timed out|stopping-error/.test(String(e.msg)));
    expect(timedOut.map(([e]) => String(e.msg)), 'nodes whose close timed out').to.deep.equal([]);
    // Node-RED gives a node 15 s to close before it gives up on it and logs the timeout.
    expect(redeployed, 'ms to stop the old flow and start the new').to.be.lessThan(15_000);
    const msg = await entered('second');
    expect((msg.journey as { instanceId?: unknown }).instanceId).to.be.a('string');
  });
});
