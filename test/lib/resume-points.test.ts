/** Resume points: written while active, cleared at the end, taken over from dead owners by one process only. */
import { expect } from 'chai';
import {
  claimStranded,
  COLLECTIONS,
  completeInstances,
  createAgenda,
  deadOwners,
  enrol,
  forgetOwner,
  heartbeat,
  OwnHeartbeat,
  recordResumePoint,
  Waits,
  type JourneyInstance,
  type ProcessDoc,
  type ResumePoint,
} from '../../lib/index.js';
import { forEachStore } from '../support/stores.js';

const t0 = new Date('2026-06-01T12:00:00Z');
const seconds = (n: number) => new Date(t0.getTime() + n * 1000);
const liveness = { heartbeatMs: 10_000, deadAfterMs: 30_000 };
const point = (owner: string, node = 'merge', at = t0): ResumePoint => ({ node, port: 0, snapshot: { payload: { n: 1 } }, at, owner });

describe('resume points', () => {
  forEachStore((ctx) => {
    const instances = () => ctx.store.collection<JourneyInstance>(COLLECTIONS.instances);
    const enter = async (profileId: string, owner = 'A') => {
      const e = await enrol(ctx.store, { journey: 'welcome', profileId, policy: { mode: 'always' }, at: t0, entryNode: 'in', resume: point(owner, 'in') });
      if (e.status !== 'entered') throw new Error(e.reason);
      return e.instance._id;
    };

    it('is written with the enrolment, replaced as the msg moves on, and cleared when the instance ends', async () => {
      const id = await enter('p1');
      expect((await instances().findOne({ _id: id }))?.resume).to.deep.equal(point('A', 'in'));
      expect(await recordResumePoint(ctx.store, id, point('A', 'merge', seconds(1)))).to.equal('recorded');
      expect((await instances().findOne({ _id: id }))?.resume).to.deep.include({ node: 'merge', at: seconds(1) });
      expect(await completeInstances(ctx.store, [id], seconds(2))).to.deep.equal([id]);
      const ended = await instances().findOne({ _id: id });
      expect(ended?.status).to.equal('completed');
      expect(ended).to.not.have.property('resume');
      // An ended instance carries no msg: no point is written on it again.
      expect(await recordResumePoint(ctx.store, id, point('A', 'late', seconds(3)))).to.equal('not-active');
      expect(await instances().findOne({ _id: id })).to.not.have.property('resume');
    });

    it('counts an owner dead only once its heartbeat is older than the limit, and never the caller itself', async () => {
      await heartbeat(ctx.store, 'A', t0);
      await heartbeat(ctx.store, 'B', seconds(20));
      expect(await deadOwners(ctx.store, 'C', seconds(29), liveness)).to.deep.equal([]);
      expect(await deadOwners(ctx.store, 'C', seconds(31), liveness)).to.deep.equal(['A']);
      expect(await deadOwners(ctx.store, 'A', seconds(31), liveness)).to.deep.equal([]);
      await heartbeat(ctx.store, 'A', seconds(30));
      expect(await deadOwners(ctx.store, 'C', seconds(45), liveness)).to.deep.equal([]);
      expect((await deadOwners(ctx.store, 'C', seconds(61), liveness)).sort()).to.deep.equal(['A', 'B']);
    });

    it('lets exactly one of several processes claim each stranded instance, and only a dead owner’s', async () => {
      const stranded = await Promise.all(['p1', 'p2', 'p3'].map((p) => enter(p, 'A')));
      const live = await enter('p4', 'B');
      const claims = await Promise.all(
        ['C', 'D', 'E'].map(async (by) => {
          const won: string[] = [];
          for (let i = await claimStranded(ctx.store, 'A', by, seconds(40)); i; i = await claimStranded(ctx.store, 'A', by, seconds(40))) won.push(i._id);
          return won;
        }),
      );
      expect(claims.flat().sort()).to.deep.equal([...stranded].sort());
      for (const [k, by] of ['C', 'D', 'E'].entries()) {
        for (const id of claims[k]!) expect((await instances().findOne({ _id: id }))?.resume?.owner).to.equal(by);
      }
      expect((await instances().findOne({ _id: live }))?.resume?.owner).to.equal('B');
      expect(await claimStranded(ctx.store, 'A', 'C', seconds(41))).to.equal(null);
    });

    it('stops a process that wakes to find its msg taken over: its next point is refused, and it completes nothing the other carries', async () => {
      const id = await enter('p1', 'A');
      // A goes unheard past the limit (paused, or cut off from the store); C takes its msg over.
      expect((await claimStranded(ctx.store, 'A', 'C', seconds(40)))?._id).to.equal(id);
      // A wakes and its copy leaves a node: the point is not written, and A is told why.
      expect(await recordResumePoint(ctx.store, id, point('A', 'merge', seconds(41)))).to.equal('taken');
      expect((await instances().findOne({ _id: id }))?.resume).to.deep.include({ node: 'in', owner: 'C' });
      expect(await completeInstances(ctx.store, [id], seconds(42), 'A')).to.deep.equal([]);
      expect((await instances().findOne({ _id: id }))?.status).to.equal('active');
      // C carries on as usual.
      expect(await recordResumePoint(ctx.store, id, point('C', 'merge', seconds(43)))).to.equal('recorded');
      expect(await completeInstances(ctx.store, [id], seconds(44), 'C')).to.deep.equal([id]);
      // An instance nobody carried yet (enrolled without a point) is anyone's to record.
      const e = await enrol(ctx.store, { journey: 'welcome', profileId: 'p2', policy: { mode: 'always' }, at: t0 });
      if (e.status !== 'entered') throw new Error(e.reason);
      expect(await recordResumePoint(ctx.store, e.instance._id, point('A', 'merge', seconds(45)))).to.equal('recorded');
    });

    it('forgets a dead owner only when none of its instances is left active', async () => {
      await heartbeat(ctx.store, 'A', t0);
      const id = await enter('p1', 'A');
      expect(await forgetOwner(ctx.store, 'A')).to.equal(false);
      await claimStranded(ctx.store, 'A', 'B', seconds(40));
      expect(await forgetOwner(ctx.store, 'A')).to.equal(true);
      expect(await ctx.store.collection<ProcessDoc>(COLLECTIONS.processes).findOne({ _id: 'A' })).to.equal(null);
      expect((await instances().findOne({ _id: id }))?.resume?.owner).to.equal('B');
    });

    it('a wait resumed by a process marks it as the carrier, keeping the point the msg entered the wait from', async () => {
      const id = await enter('p1', 'A');
      await recordResumePoint(ctx.store, id, point('A', 'before-wait', seconds(1)));
      const agenda = await createAgenda(ctx.store, { processEveryMs: 100 });
      const resumed: string[] = [];
      const waits = new Waits(ctx.store, agenda, 'B');
      waits.register('wait', async ({ instance }) => void resumed.push(instance._id));
      try {
        expect(await waits.wait({ instanceId: id, node: 'wait', snapshot: { payload: 1 }, until: seconds(3600), forEvent: 'clicked' })).to.equal(true);
        // Waiting, it is nobody's msg: no claim takes it.
        expect(await claimStranded(ctx.store, 'A', 'C', seconds(40))).to.equal(null);
        expect(await waits.eventArrived('p1', 'clicked', { name: 'clicked' })).to.equal(1);
      } finally {
        await agenda.stop();
      }
      expect(resumed).to.deep.equal([id]);
      const after = await instances().findOne({ _id: id });
      expect(after?.status).to.equal('active');
      expect(after?.resume).to.deep.include({ node: 'before-wait', owner: 'B' });
    });
  });
});

describe('own heartbeat: the term in which no other process can have counted this one dead', () => {
  let now = t0.getTime();
  const clock = () => now;
  const at = (s: number) => {
    now = seconds(s).getTime();
    return seconds(s);
  };
  // Doubt after 20 s, as OwnHeartbeat.for(liveness) sets it: a heartbeat short of the 30 s others judge by.
  const own = () => new OwnHeartbeat(liveness.deadAfterMs - liveness.heartbeatMs, clock);

  it('has no term before its first heartbeat, and keeps one while heartbeats land every 10 s', () => {
    const h = own();
    at(0);
    expect(h.term()).to.equal(null);
    h.acknowledged(at(0));
    const first = h.term();
    expect(first).to.be.a('number');
    for (let s = 10; s <= 120; s += 10) {
      at(s - 1);
      expect(h.term(), `just before the heartbeat at ${s} s`).to.equal(first);
      h.acknowledged(at(s));
      expect(h.term()).to.equal(first);
    }
  });

  it('has no term while a heartbeat is overdue, and a new one once a heartbeat lands', () => {
    const h = own();
    h.acknowledged(at(0));
    const before = h.term();
    at(20);
    expect(h.term(), 'at exactly the doubt limit').to.equal(before);
    at(21);
    expect(h.term()).to.equal(null);
    at(35);
    expect(h.term()).to.equal(null);
    h.acknowledged(at(36));
    const after = h.term();
    expect(after).to.be.a('number').and.not.equal(before);
    h.acknowledged(at(46));
    expect(h.term(), 'the new term lasts').to.equal(after);
  });

  it('starts a new term when a heartbeat lands after a pause, before the clock was looked at', () => {
    const h = own();
    h.acknowledged(at(0));
    const before = h.term();
    // Paused from 5 s to 40 s: on waking, the heartbeat due lands before any msg looks.
    h.acknowledged(at(40));
    expect(h.term()).to.be.a('number').and.not.equal(before);
  });

  it('is not moved back by a heartbeat that lands late, and a slow heartbeat still ends the term', () => {
    const h = own();
    h.acknowledged(at(0));
    h.acknowledged(at(10));
    const term = h.term();
    // The heartbeat sent at 5 s (a retry, say) lands now: it says nothing newer.
    h.acknowledged(seconds(5));
    expect(h.term()).to.equal(term);
    // Sent at 20 s, it takes the store 15 s: from 30 s others may already doubt the one of 10 s.
    at(31);
    expect(h.term()).to.equal(null);
    h.acknowledged(seconds(20));
    at(35);
    expect(h.term(), 'seen at 20 s, 15 s ago: no doubt left').to.be.a('number').and.not.equal(term);
  });
});
