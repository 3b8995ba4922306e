/** The split node in a real Node-RED runtime (node-red-node-test-helper), on both stores. */
import { expect } from 'chai';
import type { NodeMessageInFlow } from 'node-red';
import { assignVariant, checkSplit, COLLECTIONS, HOLDOUT_REASON, nodeCounts, type JourneyInstance, type Split, type Store } from '../../lib/index.js';
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { coreNode, eventually, helper, journeyNodes, nextMessage, recordStatus, sleep, type FlowNode } from '../support/node-red.js';
import { backends, catchAll, forEachBackend, helperNode, node, tab, useHelperRuntime } from './flows.js';

const catchNode = coreNode('common/25-catch.js');

const BRANCHES = [
  { name: 'A', weight: 50 },
  { name: 'B', weight: 30 },
  { name: 'C', weight: 20 },
];
const PORTS = ['A', 'B', 'C', 'holdout'] as const;
type Port = (typeof PORTS)[number];

interface Arrival {
  port: Port;
  msg: NodeMessageInFlow;
}

interface JourneyOnMsg {
  name?: string;
  instanceId?: string;
  variant?: string;
}

const journeyOf = (msg: NodeMessageInFlow): JourneyOnMsg => (msg.journey ?? {}) as JourneyOnMsg;

/** Every msg reaching one of the split's outputs, in order, with the output it came out of. */
function arrivals(): Arrival[] {
  const seen: Arrival[] = [];
  for (const port of PORTS) helper.getNode(`out-${port}`).on('input', (msg: NodeMessageInFlow) => seen.push({ port, msg }));
  return seen;
}

/** The logged warnings and errors of one node. */
function logged(nodeId: string, level: 'warn' | 'error'): string[] {
  const levels = { error: 20, warn: 30 };
  return (helper.log().args as Array<[{ id?: string; level?: number; msg?: unknown }]>)
    .map(([event]) => event)
    .filter((event) => event.id === nodeId && event.level === levels[level])
    .map((event) => String(event.msg));
}

describe('split node', function () {
  this.timeout(30_000);
  useHelperRuntime();

  forEachBackend((ctx) => {
    const flow = (split: Record<string, unknown> = {}): FlowNode[] => [
      tab(),
      ctx.store.node,
      node('in', 'event-in', { store: 'store', journey: 'promo', trigger: 'promo_start', reentry: 'always', goalEvents: 'purchase' }, [
        ['split'],
        ['rejected'],
      ]),
      node('split', 'journey-split', { store: 'store', mode: 'stable', branches: BRANCHES, holdout: 20, outputs: 4, ...split }, [
        ['out-A'],
        ['out-B'],
        ['out-C'],
        ['out-holdout'],
      ]),
      ...PORTS.map((p) => helperNode(`out-${p}`)),
      helperNode('rejected'),
      catchAll('caught'),
      helperNode('caught'),
    ];
    const split: Split = checkSplit({ mode: 'stable', branches: BRANCHES, holdoutPercent: 20 });
    const expected = (profileId: string) => assignVariant(split, { profileId, journey: 'promo', node: 'split' }).variant;
    const store = () => (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
    const instance = async (s: Store, id: string) => s.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: id });

    /** Sends trigger events for new people until every output has had a msg (each has ≥ 14% of them). */
    async function untilEveryPortSeen(seen: Arrival[]): Promise<void> {
      for (let i = 0; i < 150 && new Set(seen.map((a) => a.port)).size < PORTS.length; i++) {
        const before = seen.length;
        helper.getNode('in').receive({ payload: { name: 'promo_start', userId: `u-${i}`, messageId: `m-${i}` } });
        await eventually(() => (seen.length > before ? true : undefined), 5000, `the msg of u-${i} out of the split`);
      }
      expect(new Set(seen.map((a) => a.port))).to.have.lengthOf(PORTS.length);
    }

    it('sends each profile to its branch by the stable hash, recording the variant on the instance and msg', async () => {
      await helper.load([...journeyNodes, catchNode], flow(), ctx.store.credentials);
      const seen = arrivals();
      await untilEveryPortSeen(seen);
      const s = await store();
      for (const { port, msg } of seen) {
        const journey = journeyOf(msg);
        expect(port).to.equal(expected(msg.profileId as string));
        expect(journey).to.deep.include({ name: 'promo', variant: port });
        const stored = await instance(s, journey.instanceId!);
        expect(stored?.variants).to.deep.equal({ split: port });
        expect(stored?.path.map((step) => step.node)).to.deep.equal(['in', 'split']);
        if (port === 'holdout') expect(stored).to.deep.include({ status: 'exited', endReason: HOLDOUT_REASON, heldOutAt: 'split' });
      }
      // The same person entering again takes the same branch.
      const first = seen[0]!;
      const again = nextMessage(`out-${first.port}`);
      helper.getNode('in').receive({ payload: { name: 'promo_start', userId: 'u-0', messageId: 'm-again' } });
      const repeat = await again;
      expect(repeat.profileId).to.equal(first.msg.profileId);
      expect(journeyOf(repeat).instanceId).to.not.equal(journeyOf(first.msg).instanceId);
    });

    it('holds a profile out as exited, and converts its instance when the goal event comes later', async () => {
      await helper.load([...journeyNodes, catchNode], flow(), ctx.store.credentials);
      const seen = arrivals();
      await untilEveryPortSeen(seen);
      const held = seen.find((a) => a.port === 'holdout')!;
      const treated = seen.find((a) => a.port !== 'holdout')!;
      const heldId = journeyOf(held.msg).instanceId!;
      const s = await store();
      expect(await instance(s, heldId)).to.deep.include({ status: 'exited', endReason: 'holdout (control group)' });
      // The treated instance ran to the end of the flow and completed; only the held-out one converts.
      await eventually(async () => ((await instance(s, journeyOf(treated.msg).instanceId!))?.status === 'completed' ? true : undefined), 3000, 'the treated instance to complete');

      const heldUser = (held.msg.payload as { userId: string }).userId;
      const goal = nextMessage('rejected'); // a goal that starts nothing leaves event-in by its second output
      helper.getNode('in').receive({ payload: { name: 'purchase', userId: heldUser, messageId: 'purchase-1' } });
      expect((await goal).ended).to.deep.equal([{ instanceId: heldId, journey: 'promo', status: 'converted' }]);
      expect(await instance(s, heldId)).to.deep.include({ status: 'converted', endReason: 'goal event purchase', variants: { split: 'holdout' } });
      expect((await instance(s, journeyOf(treated.msg).instanceId!))?.status).to.equal('completed');
    });

    it('shows how many profiles took each branch on its badge', async () => {
      await helper.load([...journeyNodes, catchNode], flow(), ctx.store.credentials);
      const status = recordStatus('split');
      const seen = arrivals();
      await untilEveryPortSeen(seen);
      const count = (p: Port) => seen.filter((a) => a.port === p).length;
      const text = PORTS.map((p) => `${p} ${count(p)}`).join(' · ');
      const badge = await eventually(() => status.calls.find((s) => s.text === text), 3000, `the badge "${text}"`);
      expect(badge).to.deep.equal({ fill: 'green', shape: 'dot', text });

      // The counts are kept in the store: after a redeploy (or a restart) the badge shows the same totals at once.
      await helper.unload();
      await helper.load([...journeyNodes, catchNode], flow(), ctx.store.credentials);
      const again = recordStatus('split');
      await eventually(() => again.calls.find((s) => s.text === text), 3000, `the badge "${text}" after the reload`);
      expect(await nodeCounts(await store(), 'split')).to.deep.equal(Object.fromEntries(PORTS.map((p) => [p, count(p)])));
    });

    it('reports a msg without a profile to Catch nodes, with a code, and sends it nowhere', async () => {
      await helper.load([...journeyNodes, catchNode], flow(), ctx.store.credentials);
      const seen = arrivals();
      const caught = nextMessage('caught');
      helper.getNode('split').receive({ payload: 'no one', journey: { name: 'promo', instanceId: 'i-1' } });
      const error = (await caught).error as { message: string; code: string; source: { id: string } };
      expect(error.message).to.match(/split\.errors\.no-profile$/);
      expect(error.code).to.equal('NO_PROFILE');
      expect(error.source.id).to.equal('split');
      await sleep(100);
      expect(seen).to.have.length(0);
    });

    it('splits a msg outside any journey by profile, recording nothing', async () => {
      await helper.load([...journeyNodes, catchNode], flow({ holdout: 0, outputs: 3 }), ctx.store.credentials);
      const seen = arrivals();
      const noHoldout = checkSplit({ branches: BRANCHES });
      const ids = Array.from({ length: 12 }, (_, i) => `profile-${i}`);
      for (const id of ids) helper.getNode('split').receive({ profile: { _id: id } });
      await eventually(() => (seen.length === ids.length ? true : undefined), 5000, 'every msg out of the split');
      for (const { port, msg } of seen) {
        const id = (msg.profile as { _id: string })._id;
        expect(port).to.equal(assignVariant(noHoldout, { profileId: id, journey: '', node: 'split' }).variant);
        expect(msg.journey).to.deep.equal({ variant: port });
      }
      expect(new Set(seen.map((a) => a.port)).size).to.be.greaterThan(1);
      expect(await (await store()).collection(COLLECTIONS.instances).count({})).to.equal(0);
    });

    it('sends nothing on for an instance that has already ended, and warns', async () => {
      await helper.load([...journeyNodes, catchNode], flow(), ctx.store.credentials);
      const seen = arrivals();
      await untilEveryPortSeen(seen);
      const held = seen.find((a) => a.port === 'holdout')!;
      const before = seen.length;
      helper.getNode('split').receive({ profileId: held.msg.profileId, journey: journeyOf(held.msg) });
      await eventually(() => (logged('split', 'warn').includes('split.errors.not-active') ? true : undefined), 3000, 'the warning');
      await sleep(100);
      expect(seen).to.have.length(before);
    });
  });

  describe('settings', () => {
    it('refuses bad weights at deploy with the reason, and handles no input', async () => {
      const embedded = await backends[0]!.store();
      const flow = [
        tab(),
        embedded.node,
        node('split', 'journey-split', { store: 'store', branches: [{ name: 'A', weight: 0 }, { name: 'B', weight: 0 }], outputs: 2 }, [['out-A'], ['out-B']]),
        helperNode('out-A'),
        helperNode('out-B'),
      ];
      await helper.load(journeyNodes, flow, embedded.credentials);
      expect(logged('split', 'error')).to.deep.equal(['split.errors.bad-config']);
      const out: unknown[] = [];
      helper.getNode('out-A').on('input', (m: unknown) => out.push(m));
      helper.getNode('out-B').on('input', (m: unknown) => out.push(m));
      helper.getNode('split').receive({ profileId: 'p1' });
      await sleep(100);
      expect(out).to.have.length(0);
    });

    it('takes weights and holdout written as strings in a hand-made flow', async () => {
      const embedded = await backends[0]!.store();
      const flow = [
        tab(),
        embedded.node,
        node('split', 'journey-split', { store: 'store', mode: 'random', branches: [{ name: 'A', weight: '0' }, { name: 'B', weight: '2' }], holdout: '0', outputs: 2 }, [
          ['out-A'],
          ['out-B'],
        ]),
        helperNode('out-A'),
        helperNode('out-B'),
      ];
      await helper.load(journeyNodes, flow, embedded.credentials);
      expect(logged('split', 'error')).to.deep.equal([]);
      const b = nextMessage('out-B');
      helper.getNode('split').receive({ profileId: 'p1' });
      expect(journeyOf(await b).variant).to.equal('B');
    });
  });
});
