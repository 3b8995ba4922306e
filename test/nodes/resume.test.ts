/**
 * A journey-store taking over the msgs a dead process was carrying, in a real runtime on
 * both stores: sent again from their resume point (and completed at the end of the flow),
 * ended when the node they left from is gone, and left alone when their owner is alive.
 */
import { expect } from 'chai';
import { COLLECTIONS, type Collection, type JourneyInstance, type ProcessDoc, type ResumePoint } from '../../lib/index.js';
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { collect, coreNode, eventually, helper, journeyNodes, nextMessage, type FlowNode } from '../support/node-red.js';
import { forEachBackend, helperNode, node, openAfterwards, tab, useHelperRuntime } from './flows.js';

describe('resuming msgs of a dead process', function () {
  this.timeout(20_000);
  useHelperRuntime();

  forEachBackend((ctx) => {
    const stranded = (id: string, owner: string, resume: Partial<ResumePoint>): JourneyInstance => ({
      _id: id,
      journey: 'welcome',
      profileId: `p-${id}`,
      status: 'active',
      path: [{ node: 'in', at: new Date() }],
      variants: {},
      enteredAt: new Date(),
      updatedAt: new Date(),
      resume: { node: 'in', port: 0, snapshot: { payload: { from: id } }, at: new Date(), owner, ...resume },
    });

    it('sends a dead owner’s msgs again from their point, ends those whose node is gone, and leaves a live owner’s alone', async () => {
      // Written before the flow starts: the store looks for stranded msgs once the flows run.
      const before = await openAfterwards(ctx.store.node, ctx.store.credentials);
      await before.collection<ProcessDoc>(COLLECTIONS.processes).insertMany([
        { _id: 'dead', seenAt: new Date(Date.now() - 60_000) },
        { _id: 'alive', seenAt: new Date() },
      ]);
      await before.collection<JourneyInstance>(COLLECTIONS.instances).insertMany([
        stranded('i-resend', 'dead', {}),
        stranded('i-gone', 'dead', { node: 'removed-node' }),
        stranded('i-live', 'alive', {}),
      ]);
      await before.close();

      await helper.load(journeyNodes, [tab(), ctx.store.node, node('in', 'event-in', { store: 'store', journey: 'welcome' }, [['end'], []]), helperNode('end')], ctx.store.credentials);
      // Listening before the sweep that started with the flows has opened the store and claimed anything.
      const reached = nextMessage('end');
      const msg = await reached;
      expect(msg.payload).to.deep.equal({ from: 'i-resend' });
      expect(msg.journey).to.deep.equal({ name: 'welcome', instanceId: 'i-resend', resumed: true });

      const store = await (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
      const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
      const resent = await eventually(async () => {
        const doc = await instances.findOne({ _id: 'i-resend' });
        return doc?.status === 'completed' ? doc : undefined;
      }, 5000, 'the resent instance to complete');
      expect(resent).to.not.have.property('resume');
      expect(await instances.findOne({ _id: 'i-gone' })).to.deep.include({ status: 'exited' });
      expect((await instances.findOne({ _id: 'i-gone' }))?.endReason).to.match(/node removed-node it left from is no longer in the flow/);
      const live = await instances.findOne({ _id: 'i-live' });
      expect(live?.status).to.equal('active');
      expect(live?.resume?.owner).to.equal('alive');
      // Nothing of the dead owner is left to take over: it is forgotten.
      expect(await store.collection<ProcessDoc>(COLLECTIONS.processes).findOne({ _id: 'dead' })).to.equal(null);
    });

    /** Loads event-in → `between` → mark (a track) → end, with the delay node among them. */
    const loadThroughMark = async (between: FlowNode[], first: string) => {
      const flow = [
        tab(),
        ctx.store.node,
        node('in', 'event-in', { store: 'store', journey: 'welcome' }, [[first], []]),
        ...between,
        node('mark', 'track', { store: 'store', milestone: 'after-pause' }, [['end']]),
        helperNode('end'),
      ];
      await helper.load([...journeyNodes, coreNode('function/89-delay.js')], flow, ctx.store.credentials);
      const store = await (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
      return { instances: store.collection<JourneyInstance>(COLLECTIONS.instances), arrived: collect('end') };
    };
    /** The paused copy stopped at mark: one warning, nothing more at the end, the instance left to the process that took it. */
    const expectStopped = async (instances: Collection<JourneyInstance>, instanceId: string, arrived: unknown[], arrivedBefore: number) => {
      const warned = await eventually(() => {
        const taken = (helper.log().args as Array<[{ level?: number; msg?: unknown }]>).filter(([e]) => e.level === 30 && String(e.msg) === 'journey-store.errors.taken-over');
        return taken.length > 0 ? taken : undefined;
      }, 5000, 'the taken-over warning');
      expect(warned).to.have.length(1);
      // Give a wrongly routed copy time to arrive, and the instance time to be wrongly completed.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(arrived).to.have.length(arrivedBefore);
      const after = await instances.findOne({ _id: instanceId });
      expect(after?.status).to.equal('active');
      expect(after?.resume?.owner).to.equal('other-process');
    };

    it('stops the copy of a process that went unheard while another took its msg over, and completes nothing the other carries', async () => {
      const { instances, arrived } = await loadThroughMark(
        [
          node('wait', 'wait', { store: 'store', mode: 'duration', amount: 0.2, unit: 'seconds' }, [['paused'], []]),
          // The resumed msg waits here as if its process were paused.
          node('paused', 'delay', { pauseType: 'delay', timeout: '800', timeoutUnits: 'milliseconds' }, [['mark']]),
        ],
        'wait',
      );
      helper.getNode('in').receive({ payload: { name: 'signed_up', userId: 'paused-1', messageId: 'paused-1' } });
      // Resumed by its wait, the msg left the wait node (its point says so) and is held in the delay.
      const entered = await eventually(
        () => instances.findOne({ journey: 'welcome' }).then((doc) => (doc?.status === 'active' && doc.resume?.node === 'wait' ? doc : undefined)),
        5000,
        'the msg to leave the wait',
      );
      // Meanwhile another process counted this one dead and took the msg over.
      await instances.updateOne({ _id: entered._id }, { $set: { 'resume.owner': 'other-process' } });

      await expectStopped(instances, entered._id, arrived, 0);
    });

    it('stops the copy of a msg straight from event-in once its process went unheard, though its point was written only with the enrolment', async function () {
      // A real pause: this whole process stops for longer than its heartbeat may be missed.
      this.timeout(60_000);
      const { instances, arrived } = await loadThroughMark([node('held', 'delay', { pauseType: 'delay', timeout: '1500', timeoutUnits: 'milliseconds' }, [['mark']])], 'held');
      const enteredBy = (messageId: string) =>
        eventually(() => instances.findOne({ 'resume.snapshot.payload.messageId': messageId }).then((doc) => (doc?.status === 'active' ? doc : undefined)), 5000, `${messageId} to enter`);

      // Unpaused, the same path lets the msg through.
      helper.getNode('in').receive({ payload: { name: 'signed_up', userId: 'on-time', messageId: 'on-time' } });
      const onTime = await enteredBy('on-time');
      await eventually(() => (arrived.length === 1 ? true : undefined), 5000, 'the unpaused msg to arrive');
      await eventually(() => instances.findOne({ _id: onTime._id }).then((doc) => (doc?.status === 'completed' ? true : undefined)), 5000, 'it to complete');

      helper.getNode('in').receive({ payload: { name: 'signed_up', userId: 'paused-2', messageId: 'paused-2' } });
      const entered = await enteredBy('paused-2');
      expect(entered.resume?.node).to.equal('in');
      // Another process counted this one dead and took the msg over...
      await instances.updateOne({ _id: entered._id }, { $set: { 'resume.owner': 'other-process' } });
      // ...while it was paused: no heartbeat, no timer, nothing runs for 21 s (the doubt limit is 20 s).
      const until = Date.now() + 21_000;
      while (Date.now() < until) {
        // paused
      }

      await expectStopped(instances, entered._id, arrived, 1);
    });
  });
});
