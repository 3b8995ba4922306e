/**
 * A journey-store taking over the msgs a dead process was carrying, in a real runtime on
 * both stores: sent again from their resume point (and completed at the end of the flow),
 * ended when the node they left from is gone, and left alone when their owner is alive.
 */
import { expect } from 'chai';
import { COLLECTIONS, type JourneyInstance, type ProcessDoc, type ResumePoint } from '../../lib/index.js';
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { eventually, helper, journeyNodes, nextMessage } from '../support/node-red.js';
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
  });
});
