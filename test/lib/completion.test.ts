/** Completing instances in batches, and enrolling in batches, with the outcomes of one at a time. */
import { expect } from 'chai';
import {
  COLLECTIONS,
  completeInstances,
  CompletionQueue,
  enrol,
  enrolMany,
  gateId,
  recordStep,
  type EntryGate,
  type JourneyInstance,
} from '../../lib/index.js';
import { forEachStore } from '../support/stores.js';

const at = new Date('2026-06-01T12:00:00Z');

describe('completing and enrolling in batches', () => {
  forEachStore((ctx) => {
    const instance = (id: string) => ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: id });
    const gate = (profileId: string) => ctx.store.collection<EntryGate>(COLLECTIONS.entryGates).findOne({ _id: gateId('j', profileId) });

    it('completes only active instances, frees their gates, and says which it completed', async () => {
      const ids: string[] = [];
      for (const p of ['a', 'b', 'c']) {
        const e = await enrol(ctx.store, { journey: 'j', profileId: p, policy: { mode: 'oneActive' }, at, entryNode: 'in' });
        if (e.status !== 'entered') throw new Error(e.reason);
        ids.push(e.instance._id);
      }
      // b is parked by a wait: its msg is done there, its journey is not.
      await ctx.store.collection(COLLECTIONS.instances).updateOne({ _id: ids[1]! }, { $set: { status: 'waiting' } });
      const done = await completeInstances(ctx.store, [...ids, 'nobody'], new Date(at.getTime() + 1000));
      expect(done.sort()).to.deep.equal([ids[0], ids[2]].sort());
      expect((await instance(ids[0]!))?.status).to.equal('completed');
      expect((await instance(ids[1]!))?.status).to.equal('waiting');
      expect((await gate('a'))?.liveInstance).to.equal(null);
      expect((await gate('b'))?.liveInstance).to.equal(ids[1]);
      // Completing again changes nothing and reports nothing.
      expect(await completeInstances(ctx.store, ids, new Date(at.getTime() + 2000))).to.deep.equal([]);
    });

    it('enrols a batch as one at a time would: new ones entered, re-entries refused by policy, a repeat finds its own instance', async () => {
      const first = await enrolMany(ctx.store, { journey: 'j', policy: { mode: 'once' }, at, entryNode: 'seg' }, [
        { profileId: 'a', instanceId: 'run1-a' },
        { profileId: 'b', instanceId: 'run1-b' },
      ]);
      expect(first.map((e) => e.status)).to.deep.equal(['entered', 'entered']);
      // A repeat of the same batch (a resumed run) finds its instances; a new run is refused.
      const again = await enrolMany(ctx.store, { journey: 'j', policy: { mode: 'once' }, at, entryNode: 'seg' }, [
        { profileId: 'a', instanceId: 'run1-a' },
        { profileId: 'b', instanceId: 'run2-b' },
        { profileId: 'c', instanceId: 'run2-c' },
      ]);
      expect(again[0]).to.deep.include({ status: 'entered', again: true });
      expect(again[1]).to.deep.include({ status: 'refused', code: 'NOT_REENTRANT' });
      expect(again[2]?.status).to.equal('entered');
      const instances = ctx.store.collection<JourneyInstance>(COLLECTIONS.instances);
      expect(await instances.count({ journey: 'j' })).to.equal(3);
      // Under "always" an existing gate lets the profile in again, through the one-at-a-time path.
      await recordStep(ctx.store, 'run1-b', 'next', at);
      const always = await enrolMany(ctx.store, { journey: 'j', policy: { mode: 'always' }, at, entryNode: 'seg' }, [{ profileId: 'b', instanceId: 'run3-b' }]);
      expect(always[0]?.status).to.equal('entered');
      expect((await gate('b'))?.entries).to.equal(2);
    });
  });
});

describe('the completion queue', () => {
  it('a queue completes what it is given in batches, one batch at a time, and drains', async () => {
    const batches: string[][] = [];
    let inFlight = 0;
    let most = 0;
    const queue = new CompletionQueue(
      async (ids) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        batches.push(ids);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight -= 1;
      },
      () => undefined,
      { maxBatch: 4, delayMs: 10 },
    );
    for (let i = 0; i < 10; i++) queue.add(`i${i}`);
    await queue.drain();
    expect(batches.flat()).to.deep.equal(Array.from({ length: 10 }, (_, i) => `i${i}`));
    expect(batches.every((b) => b.length <= 4)).to.equal(true);
    expect(most).to.equal(1);
  });

  it('a queue reports a failed batch with its ids and goes on with the next', async () => {
    const failed: string[][] = [];
    const done: string[] = [];
    const queue = new CompletionQueue(
      async (ids) => {
        if (ids.includes('bad')) throw new Error('store down');
        done.push(...ids);
      },
      (err, ids) => failed.push([err.message, ...ids]),
      { maxBatch: 2, delayMs: 1 },
    );
    for (const id of ['bad', 'x', 'y', 'z']) queue.add(id);
    await queue.drain();
    expect(failed).to.deep.equal([['store down', 'bad', 'x']]);
    expect(done).to.deep.equal(['y', 'z']);
  });
});
