/** The segment node in a real Node-RED runtime (node-red-node-test-helper), on both stores. */
import { expect } from 'chai';
import type { NodeMessageInFlow } from 'node-red';
import { COLLECTIONS, findRun, type JourneyInstance, type Profile, type RunSummary, type Store } from '../../lib/index.js';
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { coreNode, collect, eventually, helper, journeyNodes, recordStatus, sleep, type FlowNode } from '../support/node-red.js';
import { all, profileDoc } from '../support/stores.js';
import { catchAll, forEachBackend, helperNode, node, tab, useHelperRuntime } from './flows.js';

const catchNode = coreNode('common/25-catch.js');
const delayNode = coreNode('function/89-delay.js');

/** Pro plan AND did cart_add at least twice in the last 7 days. */
const KEEN = {
  match: 'all',
  rules: [
    { kind: 'trait', field: 'plan', op: 'eq', value: 'pro' },
    { kind: 'event', event: 'cart_add', op: 'atLeast', count: 2, days: 7 },
  ],
};

const PRO = { match: 'all', rules: [{ kind: 'trait', field: 'plan', op: 'eq', value: 'pro' }] };

const errorCode = (msg: NodeMessageInFlow): string | undefined => (msg.error as { code?: string } | undefined)?.code;

describe('segment node', function () {
  this.timeout(60_000);
  useHelperRuntime();

  forEachBackend((ctx) => {
    const store = () => (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();

    describe('profile mode', () => {
      const flow = (segment: Record<string, unknown> = {}, journey?: string): FlowNode[] => [
        tab(),
        ctx.store.node,
        node('in', 'event-in', { store: 'store', ...(journey ? { journey, reentry: 'always' } : {}) }, [['merge'], ['rejected']]),
        node('merge', 'profile-merge', { store: 'store', strategy: 'overwrite' }, [['seg']]),
        node('seg', 'segment', { store: 'store', mode: 'profile', rules: KEEN, outputs: 2, ...segment }, [['in-seg'], ['out-seg']]),
        helperNode('in-seg'),
        helperNode('out-seg'),
        helperNode('rejected'),
        catchAll('caught'),
        helperNode('caught'),
      ];
      let sent = 0;
      /** Sends one event and waits until its msg has left the segment (or event-in's rejected output). */
      async function send(userId: string, name: string, extra: Record<string, unknown> = {}): Promise<void> {
        sent += 1;
        const through = () => ['in-seg', 'out-seg', 'rejected', 'caught'].reduce((n, id) => n + (arrived.get(id) ?? 0), 0);
        helper.getNode('in').receive({ payload: { name, userId, messageId: `${userId}-${sent}`, ...extra } });
        await eventually(() => (through() === sent ? true : undefined), 5000, `event ${sent} (${name} of ${userId}) through`);
      }
      const arrived = new Map<string, number>();
      function countArrivals(): void {
        sent = 0;
        arrived.clear();
        for (const id of ['in-seg', 'out-seg', 'rejected', 'caught']) {
          helper.getNode(id).on('input', () => arrived.set(id, (arrived.get(id) ?? 0) + 1));
        }
      }

      it('routes a msg in or out by rules over traits and a behaviour window, reading the profile from the store', async () => {
        await helper.load([...journeyNodes, catchNode], flow(), ctx.store.credentials);
        const ins = collect('in-seg');
        const outs = collect('out-seg');
        const status = recordStatus('seg');
        const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
        // keen: pro, two cart_adds this week. lapsed: pro, two cart_adds but one of them 10 days ago. free: three this week.
        countArrivals();
        await send('keen', 'signed_up', { traits: { plan: 'pro' } });
        await send('keen', 'cart_add', { timestamp: daysAgo(1) });
        await send('lapsed', 'signed_up', { traits: { plan: 'pro' } });
        await send('lapsed', 'cart_add', { timestamp: daysAgo(10) });
        await send('free', 'signed_up', { traits: { plan: 'free' } });
        for (let i = 0; i < 3; i++) await send('free', 'cart_add', { timestamp: daysAgo(2) });
        // The second cart_add of keen and lapsed: keen is in from then on; lapsed's older one is outside the window.
        await send('keen', 'cart_add', { timestamp: daysAgo(3) });
        await send('lapsed', 'cart_add', { timestamp: daysAgo(2) });
        expect(ins.length + outs.length).to.equal(10);
        const last = (list: NodeMessageInFlow[], user: string) =>
          list.filter((m) => (m.profile as Profile).identities.userId?.includes(user)).length;
        expect(last(ins, 'keen')).to.equal(1);
        expect(last(outs, 'keen')).to.equal(2);
        expect(last(ins, 'lapsed')).to.equal(0);
        expect(last(outs, 'lapsed')).to.equal(3);
        expect(last(ins, 'free')).to.equal(0);
        expect(last(outs, 'free')).to.equal(4);
        // The msg carries the profile as the store has it now, with the counted event.
        const keenIn = ins[0]!;
        expect((keenIn.profile as Profile).aggregates.cart_add?.count).to.equal(2);
        await eventually(() => status.calls.find((c) => c.text === 'segment.status.profile-counts'), 3000, 'the badge');
      });

      it('takes rules from msg.segment when present, and refuses dangerous ones with a clear error to Catch nodes', async () => {
        await helper.load([...journeyNodes, catchNode], flow(), ctx.store.credentials);
        const ins = collect('in-seg');
        const outs = collect('out-seg');
        const caught = collect('caught');
        countArrivals();
        await send('ada', 'signed_up', { traits: { plan: 'pro' } });
        expect(outs).to.have.lengthOf(1);
        const seg = helper.getNode('seg');
        seg.receive({ profileId: outs[0]!.profileId, segment: PRO });
        await eventually(() => (ins.length === 1 ? true : undefined), 5000, 'ada in by msg.segment');

        const hostile: unknown[] = [
          { 'traits.plan': 'pro' },
          { $where: 'sleep(1000)' },
          { match: 'all', rules: [{ kind: 'trait', field: 'plan', op: 'eq', value: { $gt: '' } }] },
          { match: 'all', rules: [{ $expr: { $function: { body: 'return true', args: [], lang: 'js' } } }] },
          { match: 'any', rules: [{ kind: 'trait', field: '$where', op: 'exists' }] },
          JSON.parse('{"match":"all","rules":[{"kind":"trait","field":"__proto__.polluted","op":"exists"}]}'),
          { match: 'all', rules: [{ kind: 'trait', field: 'plan', op: 'regex', value: '.*' }] },
        ];
        for (const segment of hostile) seg.receive({ profileId: outs[0]!.profileId, segment });
        await eventually(() => (caught.length === hostile.length ? true : undefined), 5000, 'every hostile rule set caught');
        for (const msg of caught) {
          expect(errorCode(msg)).to.be.a('string').and.not.equal('');
          // The helper runtime has no catalogue: the message is its i18n key (the text is checked in test/runtime).
          expect((msg.error as { message: string }).message).to.contain('segment.errors.bad-msg-rules');
        }
        expect(ins).to.have.lengthOf(1);
        expect(outs).to.have.lengthOf(1);
        expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      });

      it('reports a msg without a profile, or with an unknown one, to Catch nodes with a code', async () => {
        await helper.load([...journeyNodes, catchNode], flow(), ctx.store.credentials);
        const caught = collect('caught');
        helper.getNode('seg').receive({ payload: 'no profile here' });
        helper.getNode('seg').receive({ profileId: 'nobody' });
        await eventually(() => (caught.length === 2 ? true : undefined), 5000, 'two errors caught');
        expect(caught.map(errorCode)).to.deep.equal(['NO_PROFILE', 'UNKNOWN_PROFILE']);
      });

      it('records its step on the journey instance', async () => {
        await helper.load([...journeyNodes, catchNode], flow({ rules: PRO }, 'welcome'), ctx.store.credentials);
        const ins = collect('in-seg');
        countArrivals();
        await send('grace', 'signed_up', { traits: { plan: 'pro' } });
        expect(ins).to.have.lengthOf(1);
        const instanceId = (ins[0]!.journey as { instanceId: string }).instanceId;
        const stored = await (await store()).collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: instanceId });
        expect(stored?.path.map((s) => s.node)).to.deep.equal(['in', 'seg']);
      });

      it('refuses bad rules at deploy with the reason on its status', async () => {
        await helper.load([...journeyNodes, catchNode], flow({ rules: { $where: 'true' } }), ctx.store.credentials);
        const seg = helper.getNode('seg');
        const errors = (helper.log().args as Array<[{ id?: string; level?: number; msg?: unknown }]>)
          .map(([e]) => e)
          .filter((e) => e.id === 'seg' && e.level === 20);
        expect(errors.map((e) => String(e.msg))).to.deep.equal(['segment.errors.bad-config']);
        expect(seg).to.exist;
      });
    });

    describe('audience mode', () => {
      const flow = (segment: Record<string, unknown> = {}, downstream: FlowNode[] = []): FlowNode[] => [
        tab(),
        ctx.store.node,
        node(
          'seg',
          'segment',
          { store: 'store', mode: 'audience', journey: 'winback', reentry: 'once', rules: PRO, rate: 0, outputs: 3, ...segment },
          [[downstream.length > 0 ? downstream[0]!.id : 'entered'], ['refused'], ['finished']],
        ),
        ...downstream,
        helperNode('entered'),
        helperNode('refused'),
        helperNode('finished'),
        catchAll('caught'),
        helperNode('caught'),
      ];

      /** `count` profiles, every other one on the pro plan; returns the pro ids. */
      async function seed(s: Store, count: number): Promise<string[]> {
        const at = new Date();
        const pro: string[] = [];
        for (let i = 0; i < count; i++) {
          const _id = `a-${String(i).padStart(4, '0')}`;
          if (i % 2 === 0) pro.push(_id);
          await s.collection<Profile>(COLLECTIONS.profiles).insertOne(profileDoc(_id, { traits: { plan: i % 2 === 0 ? 'pro' : 'free' } }, at));
        }
        return pro;
      }

      it('enrols every matching profile on a trigger, one msg each, then reports the run; a second run refuses them under "once"', async () => {
        await helper.load([...journeyNodes, catchNode], flow(), ctx.store.credentials);
        const pro = await seed(await store(), 120);
        const entered = collect('entered');
        const refused = collect('refused');
        const finished = collect('finished');
        const status = recordStatus('seg');
        helper.getNode('seg').receive({ topic: 'daily', payload: Date.now() });
        await eventually(() => (finished.length === 1 ? true : undefined), 10_000, 'the run to finish');
        expect(entered.map((m) => m.profileId)).to.deep.equal(pro);
        expect(entered[0]).to.deep.include({ topic: 'daily', payload: pro[0] });
        expect(entered[0]!.journey).to.have.property('name', 'winback');
        const summary = finished[0]!.payload as RunSummary;
        expect(summary).to.deep.include({ status: 'done', journey: 'winback', matched: 60, entered: 60, refused: 0 });
        const instances = await all((await store()).collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'winback' }));
        expect(instances).to.have.lengthOf(60);
        // Each msg reached the end of the flow (a helper node): its instance completed.
        await eventually(async () => {
          const done = await (await store()).collection(COLLECTIONS.instances).count({ journey: 'winback', status: 'completed' });
          return done === 60 ? true : undefined;
        }, 5000, 'the instances to complete');
        await eventually(() => status.calls.find((c) => c.text === 'segment.status.audience-done'), 3000, 'the badge');

        helper.getNode('seg').receive({ payload: 'again' });
        await eventually(() => (finished.length === 2 ? true : undefined), 10_000, 'the second run to finish');
        expect(refused.map((m) => m.profileId)).to.deep.equal(pro);
        expect(refused.every((m) => errorCode(m) === 'NOT_REENTRANT')).to.equal(true);
        expect(entered).to.have.lengthOf(60);
        expect(finished[1]!.payload).to.deep.include({ status: 'done', entered: 0, refused: 60 });
      });

      it('takes a stop msg, and refuses a second trigger while a run is going', async () => {
        await helper.load([...journeyNodes, catchNode], flow({ rate: 40 }), ctx.store.credentials);
        await seed(await store(), 200);
        const entered = collect('entered');
        const finished = collect('finished');
        const caught = collect('caught');
        const seg = helper.getNode('seg');
        seg.receive({ payload: 'go' });
        await eventually(() => (entered.length >= 4 ? true : undefined), 5000, 'the run to start');
        seg.receive({ payload: 'go again' });
        await eventually(() => (caught.length === 1 ? true : undefined), 5000, 'the second trigger refused');
        expect(errorCode(caught[0]!)).to.equal('RUN_IN_PROGRESS');
        seg.receive({ stop: true });
        await eventually(() => (finished.length === 1 ? true : undefined), 5000, 'the run to stop');
        expect(finished[0]!.payload).to.deep.include({ status: 'stopped' });
        const count = entered.length;
        expect(count).to.be.lessThan(100);
        await sleep(300);
        expect(entered).to.have.lengthOf(count);
      });

      it('goes on after a redeploy that keeps the node, without enrolling anyone twice, and stops when the node is removed', async () => {
        // The msgs wait in a delay node, so their instances stay at the segment step.
        const delay = node('hold', 'delay', { pauseType: 'delay', timeout: '30', timeoutUnits: 'seconds', rate: '1', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: false }, [['entered']]);
        const nodes = flow({ rate: 50 }, [delay]);
        await helper.load([...journeyNodes, catchNode, delayNode], nodes, ctx.store.credentials);
        const pro = await seed(await store(), 200);
        helper.getNode('seg').receive({ payload: 'go' });
        await eventually(async () => ((await findRun(await store(), 'seg'))?.entered ?? 0) > 10 || undefined, 5000, 'a checkpoint');

        // Redeploy the segment node only (a changed name): it closes, and the new one resumes the run.
        const renamed = nodes.map((n) => (n.id === 'seg' ? { ...n, name: 'winback audience' } : n));
        await helper.setFlows(renamed, 'nodes', ctx.store.credentials);
        const finished = collect('finished');
        await eventually(() => (finished.length === 1 ? true : undefined), 15_000, 'the resumed run to finish');
        expect(finished[0]!.payload).to.deep.include({ status: 'done', entered: pro.length });
        const instances = await all((await store()).collection<JourneyInstance>(COLLECTIONS.instances).find({ journey: 'winback' }));
        expect(instances.map((i) => i.profileId).sort()).to.deep.equal(pro);

        // A new run, then the node removed from the flow: the run ends as stopped.
        helper.getNode('seg').receive({ payload: 'go' });
        await eventually(async () => ((await findRun(await store(), 'seg'))?.status === 'running' ? true : undefined), 5000, 'a new run');
        await helper.setFlows(renamed.filter((n) => n.id !== 'seg'), 'nodes', ctx.store.credentials);
        const run = await findRun(await store(), 'seg');
        expect(run?.status).to.equal('stopped');
      });
    });
  });
});
