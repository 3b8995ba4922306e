/** Durable waits on Agenda, on both stores: timers, awaited events, races, removal, restarts. */
import { expect } from 'chai';
import type { Agenda } from 'agenda' with { 'resolution-mode': 'import' };
import {
  COLLECTIONS,
  createAgenda,
  enrol,
  nextTimeOfDay,
  WAIT_JOB,
  Waits,
  type JourneyInstance,
  type WaitJobData,
  type Resumed,
} from '../../lib/index.js';
import type { Doc } from '../../lib/store/port.js';
import { eventually, sleep } from '../support/timing.js';
import { all, finishWaitJob, forEachStore, intercepted } from '../support/stores.js';

describe('wait times', () => {
  it('finds the next local time of day, across midnight and DST', () => {
    // 2026-03-28 is a Saturday; London moves to BST at 01:00 UTC on Sunday 29 March.
    const before = new Date('2026-03-28T08:30:00Z');
    expect(nextTimeOfDay(before, '09:00', 'Europe/London').toISOString()).to.equal('2026-03-28T09:00:00.000Z');
    const after = new Date('2026-03-28T09:30:00Z');
    expect(nextTimeOfDay(after, '09:00', 'Europe/London').toISOString()).to.equal('2026-03-29T08:00:00.000Z');
    expect(nextTimeOfDay(new Date('2026-06-01T23:30:00Z'), '09:00', 'Asia/Tokyo').toISOString()).to.equal('2026-06-02T00:00:00.000Z');
    expect(nextTimeOfDay(new Date('2026-06-01T12:00:00Z'), '07:15', 'America/New_York').toISOString()).to.equal('2026-06-02T11:15:00.000Z');
    expect(() => nextTimeOfDay(before, '9am', 'Europe/London')).to.throw(/HH:MM/);
    expect(() => nextTimeOfDay(before, '09:00', 'Mars/Olympus')).to.throw(/time zone/);
  });
});

describe('waits', function () {
  this.timeout(20_000);
  forEachStore((ctx) => {
    let agenda: Agenda | undefined;
    afterEach(async () => {
      await agenda?.stop();
      agenda = undefined;
    });

    async function waitsRecording(resumed: Resumed[]): Promise<Waits> {
      agenda = await createAgenda(ctx.store, { processEveryMs: 100 });
      const waits = new Waits(ctx.store, agenda);
      waits.register('w1', async (r) => {
        resumed.push(r);
      });
      await agenda.start();
      return waits;
    }

    async function newInstance(profileId = 'p1'): Promise<JourneyInstance> {
      const e = await enrol(ctx.store, { journey: 'j', profileId, policy: { mode: 'always' }, at: new Date(), entryNode: 'in' });
      if (e.status !== 'entered') throw new Error(e.reason);
      return e.instance;
    }

    const soon = (ms: number) => new Date(Date.now() + ms);

    it('resumes a timed wait once, with its snapshot and path', async () => {
      const resumed: Resumed[] = [];
      const waits = await waitsRecording(resumed);
      const instance = await newInstance();
      expect(await waits.wait({ instanceId: instance._id, node: 'w1', snapshot: { payload: { cart: 7 } }, until: soon(300) })).to.equal(true);
      expect(await waits.countWaiting('w1')).to.equal(1);
      await eventually(() => (resumed.length ? resumed : undefined), 5000, 'the wait to end');
      await sleep(300);
      expect(resumed).to.have.length(1);
      expect(resumed[0]).to.deep.include({ outcome: 'timer', snapshot: { payload: { cart: 7 } } });
      expect(resumed[0]!.instance.path.map((s) => s.node)).to.deep.equal(['in', 'w1']);
      expect(await waits.countWaiting('w1')).to.equal(0);
    });

    it('ends an event wait on the event, and its timeout never fires', async () => {
      const resumed: Resumed[] = [];
      const waits = await waitsRecording(resumed);
      const instance = await newInstance();
      await waits.wait({ instanceId: instance._id, node: 'w1', snapshot: {}, until: soon(600), forEvent: 'purchase' });
      expect(await waits.eventArrived('p1', 'page', {})).to.equal(0);
      expect(await waits.eventArrived('p1', 'purchase', { total: 5 })).to.equal(1);
      await sleep(900);
      expect(resumed.map((r) => [r.outcome, r.event])).to.deep.equal([['event', { total: 5 }]]);
    });

    it('resumes, of events arriving together, each one\'s own profile waiting for that event only', async () => {
      const resumed: Resumed[] = [];
      const waits = await waitsRecording(resumed);
      // a and b wait for a purchase, c for a signup; the events cross: b signs up, c buys.
      const waiting = new Map<string, string>([
        ['a', 'purchase'],
        ['b', 'purchase'],
        ['c', 'signup'],
      ]);
      for (const [profileId, forEvent] of waiting) {
        const instance = await newInstance(profileId);
        await waits.wait({ instanceId: instance._id, node: 'w1', snapshot: { who: profileId }, until: soon(60_000), forEvent });
      }
      const counts = await Promise.all([
        waits.eventArrived('a', 'purchase', { n: 1 }),
        waits.eventArrived('b', 'signup', {}),
        waits.eventArrived('c', 'purchase', {}),
        waits.eventArrived('nobody', 'purchase', {}),
        waits.eventArrived('a', 'purchase', { n: 2 }),
      ]);
      // a's two purchases both found its instance; one of them resumed it.
      expect(counts[1]! + counts[2]! + counts[3]!).to.equal(0);
      expect(counts[0]! + counts[4]!).to.equal(1);
      expect(resumed.map((r) => r.snapshot)).to.deep.equal([{ who: 'a' }]);
      expect(resumed[0]!.instance.profileId).to.equal('a');
      expect(await waits.countWaiting('w1')).to.equal(2);
    });

    it('times an event wait out when the event does not come', async () => {
      const resumed: Resumed[] = [];
      const waits = await waitsRecording(resumed);
      const instance = await newInstance();
      await waits.wait({ instanceId: instance._id, node: 'w1', snapshot: {}, until: soon(200), forEvent: 'purchase' });
      await eventually(() => (resumed.length ? resumed : undefined), 5000, 'the timeout');
      expect(resumed.map((r) => r.outcome)).to.deep.equal(['timeout']);
      expect(await waits.eventArrived('p1', 'purchase', {})).to.equal(0);
    });

    it('lets exactly one of a due timeout and an arriving event end the wait', async () => {
      const resumed: Resumed[] = [];
      const waits = await waitsRecording(resumed);
      const instances = await Promise.all(Array.from({ length: 10 }, (_, i) => newInstance(`r${i}`)));
      for (const [i, instance] of instances.entries()) {
        await waits.wait({ instanceId: instance._id, node: 'w1', snapshot: {}, until: soon(150), forEvent: 'purchase' });
        void i;
      }
      await sleep(120);
      await Promise.all(instances.map((_, i) => waits.eventArrived(`r${i}`, 'purchase', {})));
      await sleep(800);
      expect(resumed).to.have.length(10);
      expect(new Set(resumed.map((r) => r.instance._id)).size).to.equal(10);
    });

    it('ends the waiting instances of a removed wait node with a reason, and does not fire them', async () => {
      const resumed: Resumed[] = [];
      const waits = await waitsRecording(resumed);
      const instance = await newInstance();
      await waits.wait({ instanceId: instance._id, node: 'w1', snapshot: {}, until: soon(300) });
      expect(await waits.endWaitingAt('w1', 'wait node removed from the flow')).to.equal(1);
      await sleep(600);
      expect(resumed).to.have.length(0);
      const stored = await ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: instance._id });
      expect(stored).to.deep.include({ status: 'exited', endReason: 'wait node removed from the flow' });
    });

    it('fires a wait that fell due while nothing ran, once, after a restart', async () => {
      const resumed: Resumed[] = [];
      const first = await waitsRecording([]);
      const instance = await newInstance();
      await first.wait({ instanceId: instance._id, node: 'w1', snapshot: { payload: 'kept' }, until: soon(200) });
      await agenda!.stop();
      agenda = undefined;
      await ctx.store.close();
      await sleep(400); // due while no scheduler runs
      ctx.store = await ctx.fixture.reopen();
      await waitsRecording(resumed);
      await eventually(() => (resumed.length ? resumed : undefined), 5000, 'the overdue wait');
      await sleep(300);
      expect(resumed.map((r) => r.snapshot)).to.deep.equal([{ payload: 'kept' }]);
    });

    it('saves the timer of a wait whose process died after parking it, and fires it once', async () => {
      const resumed: Resumed[] = [];
      const waits = await waitsRecording(resumed);
      const instance = await newInstance();
      const until = soon(300);
      // What wait() leaves when its process dies between its two writes: parked, no job.
      await ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).updateOne(
        { _id: instance._id },
        { $set: { status: 'waiting', snapshot: { payload: 'parked' }, waitingAt: 'w1', waitingFor: null, waitUntil: until, timerPending: true, updatedAt: new Date(Date.now() - 60_000) } },
      );
      expect(await waits.recoverTimers(30_000), 'recovered').to.equal(1);
      expect(await waits.recoverTimers(30_000), 'recovered again').to.equal(0);
      await eventually(() => (resumed.length ? resumed : undefined), 5000, 'the recovered wait');
      await sleep(300);
      expect(resumed.map((r) => r.snapshot)).to.deep.equal([{ payload: 'parked' }]);
      const after = await ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: instance._id });
      expect(after).to.not.have.any.keys('timerPending', 'waitUntil');
    });

    it('fires each pass of a flow that loops back into the same wait', async () => {
      agenda = await createAgenda(ctx.store, { processEveryMs: 100 });
      const waits = new Waits(ctx.store, agenda);
      const rounds: number[] = [];
      // Parks again from inside the resume, while the job that resumed it still runs.
      waits.register('w1', async (r) => {
        const round = Number(r.snapshot.round);
        rounds.push(round);
        if (round < 3) await waits.wait({ instanceId: r.instance._id, node: 'w1', snapshot: { round: round + 1 }, until: soon(100) });
      });
      await agenda.start();
      const instance = await newInstance();
      await waits.wait({ instanceId: instance._id, node: 'w1', snapshot: { round: 1 }, until: soon(100) });
      await eventually(() => (rounds.length === 3 ? rounds : undefined), 5000, 'three rounds of the loop');
      await sleep(300);
      expect(rounds).to.deep.equal([1, 2, 3]);
    });

    it('fires a wait parked again after a process died between running the old timer and removing it', async () => {
      const resumed: Resumed[] = [];
      const waits = await waitsRecording(resumed);
      const instance = await newInstance();
      const instances = ctx.store.collection<JourneyInstance>(COLLECTIONS.instances);
      await waits.wait({ instanceId: instance._id, node: 'w1', snapshot: { payload: 'first' }, until: soon(60_000) });
      // What such a process leaves: the instance resumed (active, its msg to be sent into the
      // wait again by the takeover) and its old job finished, unlocked, never to run again.
      const finished = await finishWaitJob(ctx.store, instance._id, new Date());
      expect(finished.modified, 'the old job').to.equal(1);
      await instances.updateOne({ _id: instance._id }, { $set: { status: 'active' }, $unset: { snapshot: '', waitingAt: '', waitingFor: '', waitUntil: '', waitId: '' } });
      await waits.wait({ instanceId: instance._id, node: 'w1', snapshot: { payload: 'again' }, until: soon(200) });
      await eventually(() => (resumed.length ? resumed : undefined), 5000, 'the wait parked again');
      await sleep(300);
      expect(resumed.map((r) => r.snapshot)).to.deep.equal([{ payload: 'again' }]);
    });

    it('fires a wait again when the store refused its resume, until it resumes once', async () => {
      agenda = await createAgenda(ctx.store, { processEveryMs: 100 });
      // The store refuses the resume's write twice, as a store failing over might.
      let refusals = 2;
      const flaky = intercepted(ctx.store, COLLECTIONS.instances, 'findOneAndUpdate', (original) => (filter, update, options) => {
        if (refusals > 0 && filter.status === 'waiting') {
          refusals -= 1;
          return Promise.reject(new Error('store unavailable'));
        }
        return original(filter, update, options);
      });
      const waits = new Waits(flaky, agenda);
      const resumed: Resumed[] = [];
      waits.register('w1', async (r) => {
        resumed.push(r);
      });
      await agenda.start();
      const instance = await newInstance();
      await waits.wait({ instanceId: instance._id, node: 'w1', snapshot: { payload: 'kept' }, until: soon(100) });
      // Retried 1 s, then 2 s, after the refusals.
      await eventually(() => (resumed.length ? resumed : undefined), 10_000, 'the wait, after two refused resumes');
      await sleep(300);
      expect(refusals, 'refusals left').to.equal(0);
      expect(resumed.map((r) => r.snapshot)).to.deep.equal([{ payload: 'kept' }]);
      expect(await ctx.store.collection(COLLECTIONS.agendaJobs).count({ 'data.instanceId': instance._id }), 'jobs left').to.equal(0);
    });

    it('removes the finished timers a killed process left, and no other', async () => {
      const waits = await waitsRecording([]);
      const jobs = ctx.store.collection<Doc>(COLLECTIONS.agendaJobs);
      const [left, recent, pending] = [await newInstance('p1'), await newInstance('p2'), await newInstance('p3')];
      for (const i of [left, recent, pending]) await waits.wait({ instanceId: i._id, node: 'w1', snapshot: {}, until: soon(60_000) });
      await finishWaitJob(ctx.store, left._id, new Date(Date.now() - 120_000));
      await finishWaitJob(ctx.store, recent._id, new Date()); // Agenda may be about to remove it itself
      expect(await waits.removeLeftoverTimers(60_000), 'removed').to.equal(1);
      const still = async () => (await all(jobs.find({ name: WAIT_JOB }))).map((j) => (j.data as WaitJobData).instanceId).sort();
      expect(await still()).to.deep.equal([recent._id, pending._id].sort());
      expect(await waits.removeLeftoverTimers(60_000), 'removed again').to.equal(0);
    });

    it('leaves alone a wait parked a moment ago, and one whose timer was saved', async () => {
      const waits = await waitsRecording([]);
      const fresh = await newInstance('p1');
      const saved = await newInstance('p2');
      await waits.wait({ instanceId: saved._id, node: 'w1', snapshot: {}, until: soon(60_000) });
      await ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).updateOne(
        { _id: fresh._id },
        { $set: { status: 'waiting', waitingAt: 'w1', waitUntil: soon(60_000), timerPending: true, updatedAt: new Date() } },
      );
      expect(await waits.recoverTimers(30_000)).to.equal(0);
      const stored = await ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: saved._id });
      expect(stored).to.include({ status: 'waiting' }).and.not.have.property('timerPending');
    });
  });
});
