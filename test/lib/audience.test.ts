/** Audience runs (lib/segments/audience.ts) on both stores: who is enrolled, pacing, stop, crash and resume. */
import { expect } from 'chai';
import {
  COLLECTIONS,
  findRun,
  resumeRun,
  runInstanceId,
  startRun,
  stopRun,
  LEASE_MS,
  type AudienceRunner,
  type JourneyInstance,
  type Profile,
  type RunListener,
  type RunSpec,
  type RunSummary,
  type Filter,
  type Store,
} from '../../lib/index.js';
import { all, forEachStore, intercepted, profileDoc } from '../support/stores.js';

const RULES = { match: 'all' as const, rules: [{ kind: 'trait' as const, field: 'plan', op: 'eq' as const, value: 'pro' }] };

/** `count` profiles p-00000…; every third is on the pro plan; one pro profile is merged away. */
async function seedProfiles(store: Store, count: number): Promise<string[]> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  const at = new Date('2026-11-01T00:00:00Z');
  const pro: string[] = [];
  const docs: Profile[] = [];
  for (let i = 0; i < count; i++) {
    const _id = `p-${String(i).padStart(5, '0')}`;
    const isPro = i % 3 === 0;
    const merged = i === 3;
    docs.push(profileDoc(_id, { traits: { plan: isPro ? 'pro' : 'free' }, ...(merged ? { mergedInto: 'p-00000' } : {}) }, at));
    if (isPro && !merged) pro.push(_id);
  }
  for (let i = 0; i < docs.length; i += 1_000) await profiles.insertMany(docs.slice(i, i + 1_000));
  return pro;
}

interface Recorder extends RunListener {
  entered: RunListener['entered'];
  enteredIds: string[];
  instanceIds: string[];
  refusedIds: string[];
  summaries: RunSummary[];
}

function recorder(): Recorder {
  const r: Recorder = {
    enteredIds: [],
    instanceIds: [],
    refusedIds: [],
    summaries: [],
    entered(profile, instance) {
      r.enteredIds.push(profile._id);
      r.instanceIds.push(instance._id);
    },
    refused(profile) {
      r.refusedIds.push(profile._id);
    },
    progress() {},
    finished(summary) {
      r.summaries.push(summary);
    },
  };
  return r;
}

const spec = (over: Partial<RunSpec> = {}): RunSpec => ({
  node: 'seg1',
  journey: 'winback',
  rules: RULES,
  policy: { mode: 'once' },
  rate: 0,
  ...over,
});

async function started(store: Store, s: RunSpec, owner: string, listener: RunListener): Promise<AudienceRunner> {
  const result = await startRun(store, s, owner, listener);
  if (result.status !== 'started') throw new Error(`expected a run to start, found run ${result.runId}`);
  return result.run;
}

describe('audience runs', function () {
  this.timeout(60_000);

  forEachStore((ctx) => {
    it('enrols every matching live profile once, in _id order, read with one query, and reports the finished run', async () => {
      const pro = await seedProfiles(ctx.store, 16_000); // 5,332 match: more than one page of 5,000
      const queries: Filter[] = [];
      const counted = intercepted(ctx.store, COLLECTIONS.profiles, 'find', (original) => (filter, options) => {
        queries.push(filter);
        return original(filter, options);
      });
      const r = recorder();
      const run = await started(counted, spec(), 'owner-a', r);
      await run.finished();
      // A query per page would read the whole collection each time on a store without a range index.
      expect(queries).to.have.lengthOf(1);
      expect(r.enteredIds).to.deep.equal(pro);
      expect(r.refusedIds).to.deep.equal([]);
      expect(r.summaries).to.have.lengthOf(1);
      expect(r.summaries[0]).to.deep.include({ status: 'done', matched: pro.length, entered: pro.length, refused: 0, journey: 'winback' });
      const instances = await all(ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'winback' }));
      expect(instances.map((i) => i.profileId).sort()).to.deep.equal(pro);
      expect(instances.every((i) => i.status === 'active' && i.path[0]?.node === 'seg1')).to.equal(true);
      expect(new Set(r.instanceIds)).to.have.property('size', pro.length);
      expect(r.instanceIds[0]).to.equal(runInstanceId(run.runId, pro[0]!));
    });

    it('refuses profiles the re-entry policy keeps out, and starts no second run while one is running', async () => {
      const pro = await seedProfiles(ctx.store, 60);
      const first = recorder();
      await (await started(ctx.store, spec(), 'owner-a', first)).finished();
      expect(first.enteredIds).to.have.lengthOf(pro.length);

      const second = recorder();
      const slow = await started(ctx.store, spec({ rate: 20 }), 'owner-a', second);
      const busy = await startRun(ctx.store, spec(), 'owner-b', recorder());
      expect(busy).to.deep.equal({ status: 'busy', runId: slow.runId });
      await slow.finished();
      expect(second.enteredIds).to.deep.equal([]);
      expect(second.refusedIds).to.deep.equal(pro);
      expect(second.summaries[0]).to.deep.include({ status: 'done', entered: 0, refused: pro.length });
    });

    it('keeps to the rate it is given', async () => {
      const pro = await seedProfiles(ctx.store, 150); // 50 match
      const r = recorder();
      const began = Date.now();
      await (await started(ctx.store, spec({ rate: 25 }), 'owner-a', r)).finished();
      const seconds = (Date.now() - began) / 1000;
      expect(r.enteredIds).to.have.lengthOf(pro.length);
      // 50 profiles at 25/s: the last chunk may start after about 2 s, not before 1.8 s.
      expect(seconds).to.be.at.least(1.8);
    });

    it('stops when asked, from the runner or through the store, and a new run can start after', async () => {
      await seedProfiles(ctx.store, 300);
      const r = recorder();
      const run = await started(ctx.store, spec({ rate: 50 }), 'owner-a', r);
      await new Promise((resolve) => setTimeout(resolve, 400));
      await run.stop();
      expect(r.summaries).to.have.lengthOf(1);
      expect(r.summaries[0]!.status).to.equal('stopped');
      expect(r.enteredIds.length).to.be.greaterThan(0).and.lessThan(100);
      expect((await findRun(ctx.store, 'seg1'))?.status).to.equal('stopped');

      // Stopped through the store (a stop msg in another process): the owner notices at its next checkpoint.
      const other = recorder();
      const remote = await started(ctx.store, spec({ rate: 50, policy: { mode: 'always' } }), 'owner-a', other);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await stopRun(ctx.store, 'seg1'))?.runId).to.equal(remote.runId);
      await remote.finished();
      expect(other.summaries.map((s) => s.status)).to.deep.equal(['stopped']);
      expect(other.enteredIds.length).to.be.lessThan(100);
    });

    it('opens its cursor again after the last profile it gave when the cursor breaks; fails the run when a new one breaks at once', async () => {
      const pro = await seedProfiles(ctx.store, 300); // 100 match
      const queries: Filter[] = [];
      // The first cursor breaks after 40 profiles, as one a server dropped while the run was idle.
      const breaking = intercepted(ctx.store, COLLECTIONS.profiles, 'find', (original) => (filter, options) => {
        queries.push(filter);
        const source = original(filter, options);
        if (queries.length > 1) return source;
        return (async function* () {
          let given = 0;
          for await (const doc of source) {
            if (given++ === 40) throw new Error('cursor id 7 not found');
            yield doc;
          }
        })();
      });
      const r = recorder();
      await (await started(breaking, spec(), 'owner-a', r)).finished();
      expect(r.enteredIds).to.deep.equal(pro);
      expect(r.summaries[0]).to.deep.include({ status: 'done', entered: pro.length, refused: 0 });
      expect(queries).to.have.lengthOf(2);
      expect(JSON.stringify(queries[1])).to.include(JSON.stringify({ _id: { $gt: pro[39] } }));

      // A cursor that breaks before giving anything is a store that cannot answer: the run fails, saying why.
      const broken = intercepted(ctx.store, COLLECTIONS.profiles, 'find', () => () => ({
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('connection refused')) }),
      }));
      const failed = recorder();
      await (await started(broken, spec({ node: 'seg2' }), 'owner-a', failed)).finished();
      expect(failed.summaries[0]).to.deep.include({ status: 'failed', error: 'connection refused', entered: 0 });
      expect(failed.enteredIds).to.deep.equal([]);
    });

    it('resumes after a crash from its checkpoint without enrolling anyone twice', async () => {
      const pro = await seedProfiles(ctx.store, 600); // 200 match
      const before = recorder();
      const crashed = await started(ctx.store, spec({ rate: 100, policy: { mode: 'always' } }), 'owner-a', before);
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      // A crash: the store goes away under the run; nothing is released or finished.
      await ctx.store.close();
      await crashed.finished();
      expect(before.enteredIds.length).to.be.greaterThan(20).and.lessThan(pro.length);
      ctx.store = await ctx.fixture.reopen();
      const left = await findRun(ctx.store, 'seg1');
      expect(left).to.deep.include({ status: 'running', owner: 'owner-a' });

      // Until the lease lapses, no other owner takes it.
      expect(await resumeRun(ctx.store, 'seg1', 'owner-b', recorder())).to.equal(null);
      const after = recorder();
      const later = new Date(Date.now() + LEASE_MS + 1_000);
      const resumed = await resumeRun(ctx.store, 'seg1', 'owner-b', after, later);
      expect(resumed?.runId).to.equal(crashed.runId);
      await resumed!.finished();

      const instances = await all(ctx.store.collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'winback' }));
      expect(instances.map((i) => i.profileId).sort()).to.deep.equal(pro);
      // Everyone was sent on at least once; a repeat (work after the checkpoint) carries the same instance.
      expect(new Set([...before.enteredIds, ...after.enteredIds])).to.have.property('size', pro.length);
      const instanceOf = new Map(instances.map((i) => [i.profileId, i._id]));
      for (const [i, id] of after.enteredIds.entries()) expect(after.instanceIds[i]).to.equal(instanceOf.get(id));
      expect(after.summaries[0]).to.deep.include({ status: 'done', entered: pro.length, refused: 0 });
    });
  });
});
