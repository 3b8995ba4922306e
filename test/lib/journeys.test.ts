/** Journey instances: re-entry policies, waiting and resuming, exits and goals, merges. */
import { expect } from 'chai';
import {
  COLLECTIONS,
  endInstance,
  endLiveInstances,
  enrol,
  ingestEvent,
  recordStep,
  unifyProfiles,
  type Enrolment,
  type JourneyInstance,
  type ReentryPolicy,
  type Store,
} from '../../lib/index.js';
import { forEachStore } from '../support/stores.js';

const t0 = new Date('2026-06-01T12:00:00Z');
const minutes = (n: number) => new Date(t0.getTime() + n * 60_000);

function entered(e: Enrolment): JourneyInstance {
  if (e.status !== 'entered') throw new Error(`refused: ${e.reason}`);
  return e.instance;
}

describe('journey instances', () => {
  forEachStore((ctx) => {
    const enter = (policy: ReentryPolicy, at = t0, profileId = 'p1', journey = 'welcome', store: Store = ctx.store) =>
      enrol(store, { journey, profileId, policy, at, entryNode: 'in' });

    it('always: enters every time', async () => {
      for (let i = 0; i < 3; i++) expect((await enter({ mode: 'always' })).status).to.equal('entered');
      expect(await ctx.store.collection(COLLECTIONS.instances).count({ profileId: 'p1' })).to.equal(3);
    });

    it('once: enters once ever, even after the first pass ended', async () => {
      const first = entered(await enter({ mode: 'once' }));
      await endLiveInstances(ctx.store, { profileId: 'p1' }, 'completed', 'done', minutes(1));
      const again = await enter({ mode: 'once' }, minutes(2));
      expect(again).to.deep.include({ status: 'refused', code: 'NOT_REENTRANT' });
      expect(first.path).to.deep.equal([{ node: 'in', at: t0 }]);
    });

    it('once per period: enters again only after the period', async () => {
      const policy: ReentryPolicy = { mode: 'oncePer', periodMs: 30 * 60_000 };
      entered(await enter(policy));
      expect((await enter(policy, minutes(29))).status).to.equal('refused');
      expect((await enter(policy, minutes(30))).status).to.equal('entered');
      expect((await enter(policy, minutes(31))).status).to.equal('refused');
    });

    it('one active: refuses while live, enters again once it ended', async () => {
      const first = entered(await enter({ mode: 'oneActive' }));
      const refused = await enter({ mode: 'oneActive' }, minutes(1));
      expect(refused.status === 'refused' && refused.reason).to.match(/already active/);
      await endLiveInstances(ctx.store, { profileId: 'p1', journey: 'welcome' }, 'exited', 'exit event', minutes(2));
      const second = entered(await enter({ mode: 'oneActive' }, minutes(3)));
      expect(second._id).to.not.equal(first._id);
      expect((await enter({ mode: 'oneActive' }, minutes(3), 'p2')).status).to.equal('entered');
    });

    it('one active: lets exactly one of many racing entries in', async () => {
      const results = await Promise.all(Array.from({ length: 10 }, () => enter({ mode: 'oneActive' })));
      expect(results.filter((r) => r.status === 'entered')).to.have.length(1);
    });

    it('one active: a gate left by a crash before the instance was written does not block', async () => {
      await ctx.store.collection(COLLECTIONS.entryGates).insertOne({
        _id: 'welcome|p1',
        journey: 'welcome',
        profileId: 'p1',
        entries: 1,
        lastEnteredAt: t0,
        liveInstance: 'never-written',
      });
      expect((await enter({ mode: 'oneActive' }, minutes(1))).status).to.equal('entered');
    });

    it('records path and split variants', async () => {
      const instance = entered(await enter({ mode: 'always' }));
      await recordStep(ctx.store, instance._id, 'split1', minutes(1), 'B');
      const stored = await ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: instance._id });
      expect(stored?.variants).to.deep.equal({ split1: 'B' });
      expect(stored?.path.map((s) => s.node)).to.deep.equal(['in', 'split1']);
    });

    it('steps recorded together: each on a live instance only, and told which were live, when some of them had ended', async () => {
      const live = await Promise.all(['p1', 'p2', 'p3'].map(async (p) => entered(await enter({ mode: 'always' }, t0, p))));
      const gone = await Promise.all(['p4', 'p5'].map(async (p) => entered(await enter({ mode: 'always' }, t0, p))));
      for (const g of gone) await endInstance(ctx.store, g._id, 'exited', 'exit event', minutes(1));
      // Made in the same turn: the MongoDB adapter sends them as one bulk write, which matched only some.
      const recorded = await Promise.all([...live, ...gone].map((i) => recordStep(ctx.store, i._id, 'segment1', minutes(2))));
      expect(recorded).to.deep.equal([true, true, true, false, false]);
      expect(await recordStep(ctx.store, 'no-such-instance', 'segment1', minutes(2))).to.equal(false);
      const paths = async (ids: string[]) =>
        Promise.all(ids.map(async (id) => (await ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: id }))?.path.map((s) => s.node)));
      expect(await paths(live.map((i) => i._id))).to.deep.equal([['in', 'segment1'], ['in', 'segment1'], ['in', 'segment1']]);
      expect(await paths(gone.map((i) => i._id))).to.deep.equal([['in'], ['in']]);
    });

    it('ends live instances on a goal, only in that journey, and reports them once', async () => {
      const welcome = entered(await enter({ mode: 'always' }));
      const other = entered(await enter({ mode: 'always' }, t0, 'p1', 'cart'));
      const ended = await endLiveInstances(ctx.store, { profileId: 'p1', journey: 'welcome' }, 'converted', 'goal purchase', minutes(2));
      expect(ended.map((i) => [i._id, i.status, i.endReason])).to.deep.equal([[welcome._id, 'converted', 'goal purchase']]);
      expect(await endLiveInstances(ctx.store, { profileId: 'p1', journey: 'welcome' }, 'exited', 'again', minutes(3))).to.deep.equal([]);
      const untouched = await ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: other._id });
      expect(untouched?.status).to.equal('active');
    });

    it('moves live instances to the surviving profile on a merge, without duplicates', async () => {
      const accepted = async (input: Record<string, unknown>) => {
        const r = await ingestEvent(ctx.store, input, { now: t0 });
        if (r.status !== 'accepted') throw new Error(r.reason);
        return r.profile._id;
      };
      const known = await accepted({ name: 'signed_up', email: 'm@example.com', messageId: 'k' });
      const anon = await accepted({ name: 'cart', anonymousId: 'z', messageId: 'a' });
      const knownWelcome = entered(await enter({ mode: 'oneActive' }, t0, known, 'welcome'));
      const anonWelcome = entered(await enter({ mode: 'oneActive' }, t0, anon, 'welcome'));
      const anonCart = entered(await enter({ mode: 'oneActive' }, t0, anon, 'cart'));
      await unifyProfiles(ctx.store, { email: 'm@example.com', anonymousId: 'z' }, minutes(1));
      const instances = ctx.store.collection<JourneyInstance>(COLLECTIONS.instances);
      expect((await instances.findOne({ _id: anonCart._id }))?.profileId).to.equal(known);
      expect((await instances.findOne({ _id: anonWelcome._id }))?.status).to.equal('exited');
      expect((await instances.findOne({ _id: knownWelcome._id }))?.status).to.equal('active');
      expect(await instances.count({ profileId: known, status: { $in: ['active', 'waiting'] } })).to.equal(2);
      // The cart journey's one-at-a-time gate now belongs to the winner.
      expect((await enter({ mode: 'oneActive' }, minutes(2), known, 'cart')).status).to.equal('refused');
    });
  });
});
