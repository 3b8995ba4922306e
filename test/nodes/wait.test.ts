/** The wait node in a real Node-RED runtime (node-red-node-test-helper), on both stores. */
import { expect } from 'chai';
import { COLLECTIONS, WAIT_JOB, type Doc, type JourneyInstance, type Profile, type Store, type WaitJobData } from '../../lib/index.js';
import { all, finishWaitJob } from '../support/stores.js';
import { coreNode, eventually, helper, journeyNodes, nextMessage, recordStatus, sleep, type FlowNode } from '../support/node-red.js';
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { forEachBackend, helperNode, node, openAfterwards, tab, useHelperRuntime } from './flows.js';


describe('wait node', function () {
  this.timeout(20_000);
  useHelperRuntime();

  forEachBackend((ctx) => {

      const flow = (wait: Record<string, unknown>): FlowNode[] => [
        tab(),
        ctx.store.node,
        node('in', 'event-in', { store: 'store', journey: 'cart', trigger: 'cart_abandoned', reentry: 'always' }, [['wait'], ['other']]),
        node('wait', 'wait', { store: 'store', ...wait }, [['continued'], ['timedout']]),
        helperNode('continued'),
        helperNode('timedout'),
        helperNode('other'),
      ];
      const send = (payload: Record<string, unknown>) => helper.getNode('in').receive({ payload });

      it('holds the msg for a duration, then continues it with the fresh profile and the same instance', async () => {
        await helper.load(journeyNodes, flow({ mode: 'duration', amount: 0.3, unit: 'seconds' }), ctx.store.credentials);
        const status = recordStatus('wait');
        const continued = nextMessage('continued', 8000);
        const started = Date.now();
        send({ name: 'cart_abandoned', userId: 'w1', properties: { total: 99 }, messageId: 'c1' });
        await eventually(() => status.calls.find((s) => s.text === 'wait.status.waiting'), 3000, 'the waiting badge');
        const msg = await continued;
        expect(Date.now() - started).to.be.greaterThan(250);
        expect((msg.payload as { properties: { total: number } }).properties.total).to.equal(99);
        expect(msg.journey).to.have.property('name', 'cart');
        expect((msg.profile as Profile).identities.userId).to.deep.equal(['w1']);
        const store = await (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
        const instance = await eventually(async () => {
          const found = await store.collection<JourneyInstance>(COLLECTIONS.instances).findOne({});
          return found?.status === 'completed' ? found : undefined;
        }, 3000, 'the instance to complete at the end of the flow');
        expect(instance.path.map((s) => s.node)).to.deep.equal(['in', 'wait']);
      });

      it('continues on the awaited event, and never times out after it', async () => {
        await helper.load(journeyNodes, flow({ mode: 'event', event: 'purchase', timeout: 1.5, timeoutUnit: 'seconds' }), ctx.store.credentials);
        const parked = recordStatus('wait');
        send({ name: 'cart_abandoned', userId: 'w2', messageId: 'c2' });
        await eventually(() => parked.calls.find((s) => s.text === 'wait.status.waiting'), 3000, 'the wait to start');
        await sleep(200);
        const continued = nextMessage('continued');
        const timedOut: unknown[] = [];
        helper.getNode('timedout').on('input', (m: unknown) => timedOut.push(m));
        send({ name: 'purchase', userId: 'w2', properties: { total: 12 }, messageId: 'p2' });
        const msg = await continued;
        expect(msg.waitEvent).to.deep.include({ name: 'purchase', properties: { total: 12 } });
        await sleep(2500);
        expect(timedOut).to.have.length(0);
      });

      it('times out on output 2 when the event does not come', async () => {
        await helper.load(journeyNodes, flow({ mode: 'event', event: 'purchase', timeout: 0.3, timeoutUnit: 'seconds' }), ctx.store.credentials);
        const timedOut = nextMessage('timedout', 8000);
        send({ name: 'cart_abandoned', userId: 'w3', messageId: 'c3' });
        expect((await timedOut).journey).to.have.property('name', 'cart');
      });

      it('waits again on each pass of a flow that loops back into it', async () => {
        const looping: FlowNode[] = [
          tab(),
          ctx.store.node,
          node('in', 'event-in', { store: 'store', journey: 'cart', trigger: 'cart_abandoned', reentry: 'always' }, [['wait'], ['other']]),
          node('wait', 'wait', { store: 'store', mode: 'duration', amount: 0.3, unit: 'seconds' }, [['count'], ['timedout']]),
          node('count', 'change', { rules: [{ t: 'set', p: 'round', pt: 'msg', to: '$exists(round) ? round + 1 : 1', tot: 'jsonata' }] }, [['again']]),
          node('again', 'switch', { property: 'round', propertyType: 'msg', rules: [{ t: 'lt', v: '3', vt: 'num' }, { t: 'else' }], checkall: 'false', outputs: 2 }, [['wait'], ['continued']]),
          helperNode('continued'),
          helperNode('timedout'),
          helperNode('other'),
        ];
        await helper.load([...journeyNodes, coreNode('function/15-change.js'), coreNode('function/10-switch.js')], looping, ctx.store.credentials);
        const continued = nextMessage('continued', 10_000);
        const started = Date.now();
        send({ name: 'cart_abandoned', userId: 'w5', messageId: 'c5' });
        const msg = await continued;
        expect(msg.round).to.equal(3);
        expect(Date.now() - started, 'three waits of 0.3 s').to.be.greaterThan(850);
        const store = await (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
        const instance = await eventually(async () => {
          const found = await store.collection<JourneyInstance>(COLLECTIONS.instances).findOne({});
          return found?.status === 'completed' ? found : undefined;
        }, 3000, 'the instance to complete at the end of the flow');
        expect(instance.path.map((s) => s.node)).to.deep.equal(['in', 'wait', 'wait', 'wait']);
      });

      it('removes at start the finished timers a killed process left, and no other', async () => {
        const parked = flow({ mode: 'duration', amount: 1, unit: 'hours' });
        await helper.load(journeyNodes, parked, ctx.store.credentials);
        for (const id of ['w5', 'w6', 'w7']) send({ name: 'cart_abandoned', userId: id, messageId: `c-${id}` });
        const config = () => helper.getNode('store') as unknown as JourneyStoreConfigNode;
        const timers = async (store: Store) => (await all(store.collection<Doc>(COLLECTIONS.agendaJobs).find({ name: WAIT_JOB }))).map((j) => (j.data as WaitJobData).instanceId).sort();
        const [left, recent, pending] = await eventually(async () => {
          const ids = await timers(await config().getStore());
          return ids.length === 3 ? ids : undefined;
        }, 3000, 'three timers');
        await helper.unload();
        // As a process leaves them when it is killed after Agenda ran their jobs, before it removed them.
        const before = await openAfterwards(ctx.store.node, ctx.store.credentials);
        await finishWaitJob(before, left!, new Date(Date.now() - 120_000));
        await finishWaitJob(before, recent!, new Date()); // Agenda may be about to remove it itself
        await before.close();

        await helper.load(journeyNodes, parked, ctx.store.credentials);
        const store = await config().getStore();
        const still = await eventually(async () => {
          const ids = await timers(store);
          return ids.length === 2 ? ids : undefined;
        }, 5000, 'the leftover timer removed, long before the sweep\'s 10 minutes');
        expect(still).to.deep.equal([recent, pending].sort());
        const logged = (helper.log().args as Array<[{ id?: string; level?: number; msg?: unknown }]>).filter(([e]) => e.id === 'store' && e.level === 40).map(([e]) => String(e.msg));
        expect(logged).to.include('journey-store.log.leftover-timers');
      });

      it('ends its waiting instances with a reason when a redeploy removes it, and keeps them when it stays', async () => {
        const kept = flow({ mode: 'duration', amount: 1, unit: 'hours' });
        await helper.load(journeyNodes, kept, ctx.store.credentials);
        const status = recordStatus('wait');
        send({ name: 'cart_abandoned', userId: 'w4', messageId: 'c4' });
        await eventually(() => status.calls.find((s) => s.text === 'wait.status.waiting'), 3000, 'the wait to start');
        await sleep(300);
        await helper.setFlows(kept, 'full', ctx.store.credentials); // the same flow again: the wait stays
        const config = helper.getNode('store') as unknown as JourneyStoreConfigNode;
        expect(await (await config.getWaits()).countWaiting('wait')).to.equal(1);
        await helper.setFlows(kept.filter((n) => n.id !== 'wait'), 'full', ctx.store.credentials);
        await helper.unload();
        const reopened = await openAfterwards(ctx.store.node, ctx.store.credentials);
        try {
          const instance = await reopened.collection<JourneyInstance>(COLLECTIONS.instances).findOne({});
          expect(instance).to.deep.include({ status: 'exited', endReason: 'wait.reasons.removed' });
        } finally {
          await reopened.close();
        }
      });
  });
});
