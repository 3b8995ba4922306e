/** event-in, profile-merge and track in a real Node-RED runtime (node-red-node-test-helper). */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COLLECTIONS, countMilestones, EmbeddedStore, type Profile } from '../../lib/index.js';
import { coreNode, collect, eventually, helper, journeyNodes, nextMessage, recordStatus, sleep, type FlowNode } from '../support/node-red.js';
import { backends, catchAll, forEachBackend, helperNode, node, openAfterwards, tab, useHelperRuntime } from './flows.js';

const catchNode = coreNode('common/25-catch.js');
const delayNode = coreNode('function/89-delay.js');


describe('journey nodes', function () {
  useHelperRuntime();

  forEachBackend((ctx) => {

      const pipeline = (): FlowNode[] => [
        tab(),
        ctx.store.node,
        node('in', 'event-in', { store: 'store', property: 'payload', journey: 'welcome', reentry: 'always' }, [['merge'], ['rejected']]),
        node('merge', 'profile-merge', { store: 'store', strategy: 'overwrite', fields: [{ field: 'visits', strategy: 'sum' }] }, [['track']]),
        node('track', 'track', { store: 'store', milestone: 'signed_up' }, [['out']]),
        helperNode('out'),
        helperNode('rejected'),
        catchAll('caught'),
        helperNode('caught'),
      ];

      it('takes an event through event-in, profile-merge and track', async () => {
        await helper.load([...journeyNodes, catchNode], pipeline(), ctx.store.credentials);
        const out = nextMessage('out');
        helper.getNode('in').receive({
          payload: {
            name: 'signed_up',
            identities: { email: 'Ada@Example.com', userId: 'u-1' },
            traits: { plan: 'pro', visits: 2 },
            consent: { email: true },
            messageId: 'evt-1',
          },
        });
        const msg = await out;
        const profile = msg.profile as Profile;
        expect(msg.profileId).to.equal(profile._id);
        expect(profile.identities).to.deep.equal({ userId: ['u-1'], email: ['ada@example.com'] });
        expect(profile.traits).to.deep.equal({ plan: 'pro', visits: 2 });
        expect(profile.consent.email?.status).to.equal('granted');
        expect(profile.aggregates.signed_up?.count).to.equal(1);
        expect(msg.journey).to.have.property('name', 'welcome');
        expect((msg.journey as { instanceId: string }).instanceId).to.be.a('string');
        expect((msg.event as { name: string }).name).to.equal('signed_up');

        const again = nextMessage('out');
        helper.getNode('in').receive({ payload: { name: 'visit', userId: 'u-1', traits: { visits: 3 }, messageId: 'evt-2' } });
        expect(((await again).profile as Profile).traits.visits).to.equal(5);

        await helper.unload();
        const reopened = await openAfterwards(ctx.store.node, ctx.store.credentials);
        try {
          const counts = await countMilestones(reopened, { name: 'signed_up' });
          expect(counts).to.deep.equal([{ name: 'signed_up', journey: 'welcome', variant: null, count: 2, profiles: 1 }]);
          expect(await reopened.collection<Profile>(COLLECTIONS.profiles).count({})).to.equal(1);
        } finally {
          await reopened.close();
        }
      });

      // A msg sent on again after a crash (or the same msg wired twice into the node) carries the
      // same event: its sums and appends are applied once. A msg without an event has no key.
      it('merges one event into the profile once when its msg reaches profile-merge again', async () => {
        await helper.load([...journeyNodes, catchNode], pipeline(), ctx.store.credentials);
        const first = nextMessage('out');
        helper.getNode('in').receive({ payload: { name: 'visit', userId: 'u-9', traits: { visits: 2 }, messageId: 'evt-9' } });
        const msg = await first;
        expect((msg.profile as Profile).traits.visits).to.equal(2);
        const replayed = nextMessage('out');
        helper.getNode('merge').receive({ ...msg, profile: undefined });
        expect(((await replayed).profile as Profile).traits.visits).to.equal(2);
        const unkeyed = nextMessage('out');
        helper.getNode('merge').receive({ profileId: msg.profileId, payload: { traits: { visits: 1 } } });
        expect(((await unkeyed).profile as Profile).traits.visits).to.equal(3);
      });

      it('rejects bad input on output 2 with a reason, and reports it to Catch nodes', async () => {
        await helper.load([...journeyNodes, catchNode], pipeline(), ctx.store.credentials);
        const rejected = nextMessage('rejected');
        const caught = nextMessage('caught');
        helper.getNode('in').receive({ payload: { name: 'x', identities: { email: { $gt: '' } }, messageId: 'bad' } });
        const msg = await rejected;
        expect(msg.error).to.deep.include({ code: 'BAD_IDENTITY' });
        expect((msg.error as { message: string }).message).to.match(/email must be a string/);
        const error = (await caught).error as { message: string; source: { id: string } };
        expect(error.source.id).to.equal('in');
        expect(error.message).to.equal('event-in.errors.rejected');
      });

      it('sends a duplicate messageId to output 2 without raising an error', async () => {
        await helper.load([...journeyNodes, catchNode], pipeline(), ctx.store.credentials);
        const caught = collect('caught');
        const passed = collect('out');
        const event = { payload: { name: 'page', anonymousId: 'a-1', messageId: 'dup-1' } };
        const first = nextMessage('out');
        helper.getNode('in').receive(event);
        await first;
        const rejected = nextMessage('rejected');
        helper.getNode('in').receive(event);
        expect((await rejected).error).to.deep.include({ code: 'DUPLICATE' });
        await sleep(100);
        expect(caught).to.have.length(0);
        expect(passed).to.have.length(1);
      });

      it('stitches anonymous browsing into the signed-up profile', async () => {
        await helper.load([...journeyNodes, catchNode], pipeline(), ctx.store.credentials);
        const send = async (payload: Record<string, unknown>) => {
          const out = nextMessage('out');
          helper.getNode('in').receive({ payload });
          return out;
        };
        const anon = await send({ name: 'page', anonymousId: 'anon-7', traits: { colour: 'blue' }, messageId: 'p1' });
        await send({ name: 'page', anonymousId: 'anon-7', messageId: 'p2' });
        const known = await send({ name: 'newsletter', email: 'bo@example.com', messageId: 'n1' });
        expect(known.profileId).to.not.equal(anon.profileId);
        const linked = await send({ name: 'signed_up', anonymousId: 'anon-7', email: 'bo@example.com', messageId: 's1' });
        expect(linked.profileId).to.equal(known.profileId);
        expect(linked.merged).to.deep.equal([{ loser: anon.profileId, winner: known.profileId }]);
        const profile = linked.profile as Profile;
        expect(profile.identities).to.deep.equal({ email: ['bo@example.com'], anonymousId: ['anon-7'] });
        expect(profile.traits.colour).to.equal('blue');
        expect(profile.aggregates.page?.count).to.equal(2);
        const later = await send({ name: 'page', anonymousId: 'anon-7', messageId: 'p3' });
        expect(later.profileId).to.equal(known.profileId);
        expect((later.profile as Profile).aggregates.page?.count).to.equal(3);
      });

      it('enrols under the re-entry policy and ends instances on goal and exit events', async () => {
        const flow: FlowNode[] = [
          tab(),
          ctx.store.node,
          node(
            'in',
            'event-in',
            { store: 'store', journey: 'onboarding', trigger: 'signed_up', reentry: 'oneActive', exitEvents: 'unsubscribed', goalEvents: 'purchase' },
            [['out', 'hold'], ['rejected']],
          ),
          // A msg still in the flow keeps its instance active; without the hold it would complete at 'out'.
          node('hold', 'delay', { pauseType: 'delay', timeout: '60', timeoutUnits: 'seconds' }, [[]]),
          helperNode('out'),
          helperNode('rejected'),
        ];
        await helper.load([...journeyNodes, catchNode, delayNode], flow, ctx.store.credentials);
        const send = (payload: Record<string, unknown>, port: 'out' | 'rejected') => {
          const next = nextMessage(port);
          helper.getNode('in').receive({ payload });
          return next;
        };
        const first = await send({ name: 'signed_up', userId: 'j1', messageId: 'j-1' }, 'out');
        const instanceId = (first.journey as { instanceId: string }).instanceId;
        expect(first.journey).to.deep.equal({ name: 'onboarding', instanceId });
        const again = await send({ name: 'signed_up', userId: 'j1', messageId: 'j-2' }, 'rejected');
        expect(again.error).to.deep.include({ code: 'NOT_REENTRANT' });
        const goal = await send({ name: 'purchase', userId: 'j1', messageId: 'j-3' }, 'rejected');
        expect(goal.error).to.deep.include({ code: 'NOT_A_TRIGGER' });
        expect(goal.ended).to.deep.equal([{ instanceId, journey: 'onboarding', status: 'converted' }]);
        const second = await send({ name: 'signed_up', userId: 'j1', messageId: 'j-4' }, 'out');
        const exit = await send({ name: 'unsubscribed', userId: 'j1', messageId: 'j-5' }, 'rejected');
        expect(exit.ended).to.deep.equal([
          { instanceId: (second.journey as { instanceId: string }).instanceId, journey: 'onboarding', status: 'exited' },
        ]);
      });

      it('shows live counts on the status badges', async () => {
        await helper.load([...journeyNodes, catchNode], pipeline(), ctx.store.credentials);
        const inStatus = recordStatus('in');
        const trackStatus = recordStatus('track');
        for (let i = 0; i < 3; i++) {
          const out = nextMessage('out');
          helper.getNode('in').receive({ payload: { name: 'page', userId: 'u', messageId: `s${i}` } });
          await out;
        }
        const rejected = nextMessage('rejected');
        helper.getNode('in').receive({ payload: { name: 'page' } });
        await rejected;
        const last = await eventually(() => (inStatus.last()?.fill === 'yellow' ? inStatus.last() : undefined), 2000, 'badge');
        expect(last).to.deep.equal({ fill: 'yellow', shape: 'dot', text: 'event-in.status.journey-counts' });
        const tracked = await eventually(() => trackStatus.last(), 2000, 'track badge');
        expect(tracked).to.deep.include({ fill: 'green', text: 'track.status.counts' });
        expect((helper.getNode('in') as unknown as { status: unknown }).status).to.be.a('function');
      });
  });

  describe('configuration and lifecycle', () => {
    it('reports a missing store and handles no input', async () => {
      const flow = [tab(), node('in', 'event-in', { store: '' }, [['out'], []]), helperNode('out')];
      await helper.load(journeyNodes, flow);
      const statuses = recordStatus('in');
      const out = collect('out');
      helper.getNode('in').receive({ payload: { name: 'x', userId: 'u' } });
      await sleep(100);
      expect(out).to.have.length(0);
      expect(statuses.calls).to.have.length(0); // set once at construction, before this recorder
    });

    it('errors to Catch when track has no profile on msg', async () => {
      const embedded = await backends[0]!.store();
      const flow = [tab(), embedded.node, node('track', 'track', { store: 'store', milestone: 'm' }, [['out']]), helperNode('out'), catchAll('caught'), helperNode('caught')];
      await helper.load([...journeyNodes, catchNode], flow);
      const caught = nextMessage('caught');
      helper.getNode('track').receive({ payload: 1 });
      const error = (await caught).error as { message: string };
      expect(error.message).to.match(/track\.errors\.no-profile$/);
    });

    it('lets go of the embedded store on redeploy, after in-flight messages finish', async () => {
      const embedded = await backends[0]!.store();
      const directory = embedded.node.directory as string;
      const flow = [tab(), embedded.node, node('in', 'event-in', { store: 'store' }, [['out'], []]), helperNode('out')];
      await helper.load([...journeyNodes, catchNode], flow);
      for (let i = 0; i < 20; i++) helper.getNode('in').receive({ payload: { name: 'page', userId: `u${i}`, messageId: `m${i}` } });
      await new Promise((resolve) => setImmediate(resolve)); // the runtime delivers input on the next turn
      // Redeploy while the messages are still in flight (the store is still opening).
      await helper.setFlows([tab()], 'full');
      const lock = await readFile(join(directory, 'store.lock'), 'utf8').catch(() => 'released');
      expect(lock).to.equal('released');
      const reopened = await EmbeddedStore.open({ directory });
      expect(await reopened.collection(COLLECTIONS.profiles).count({})).to.equal(20);
      await reopened.close();
    });

    it('keeps the MongoDB connection string out of the flow and in credentials', async () => {
      const mongo = await backends[1]!.store();
      await helper.load(journeyNodes, [tab(), mongo.node], mongo.credentials);
      const config = helper.getNode('store') as unknown as { credentials: { uri?: string } };
      expect(config.credentials.uri).to.equal(mongo.credentials.store!.uri);
      expect(JSON.stringify(mongo.node)).to.not.include('mongodb://');
    });
  });
});
