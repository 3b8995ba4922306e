/**
 * A journey instance completes when its msg reaches the end of the flow on every branch,
 * counted through Node-RED's message hooks in a real runtime, on both stores.
 */
import { expect } from 'chai';
import { COLLECTIONS, COMPLETED_REASON, type JourneyInstance } from '../../lib/index.js';
import { carriers } from '../../nodes/shared/resume.js';
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { coreNode, eventually, helper, journeyNodes, nextMessage, recordStatus, sleep, type FlowNode } from '../support/node-red.js';
import { forEachBackend, helperNode, node, tab, useHelperRuntime } from './flows.js';

const nodes = [...journeyNodes, coreNode('function/10-switch.js'), coreNode('function/89-delay.js'), coreNode('function/15-change.js')];

describe('journey completion', function () {
  this.timeout(20_000);
  useHelperRuntime();

  forEachBackend((ctx) => {
    const load = (flowNodes: FlowNode[]) => helper.load(nodes, [tab(), ctx.store.node, ...flowNodes], ctx.store.credentials);
    const enter = (userId: string, name = 'signed_up', messageId = `${name}-${userId}`) =>
      helper.getNode('in').receive({ payload: { name, userId, messageId } });
    const instances = async (): Promise<JourneyInstance[]> => {
      const store = await (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
      const found: JourneyInstance[] = [];
      for await (const doc of store.collection<JourneyInstance>(COLLECTIONS.instances).find({})) found.push(doc);
      return found;
    };
    const onlyInstance = async (): Promise<JourneyInstance> => {
      const all = await instances();
      expect(all).to.have.length(1);
      return all[0]!;
    };
    const eventIn = (wires: string[][], props: Record<string, unknown> = {}) =>
      node('in', 'event-in', { store: 'store', journey: 'welcome', reentry: 'always', exitEvents: 'unsubscribed', ...props }, wires);

    it('completes the instance once the msg has passed the last node', async () => {
      await load([eventIn([['set'], []]), node('set', 'change', { rules: [{ t: 'set', p: 'topic', pt: 'msg', to: 'done', tot: 'str' }] }, [['end']]), helperNode('end')]);
      const reached = nextMessage('end');
      enter('c1');
      expect((await reached).topic).to.equal('done');
      const done = await eventually(async () => {
        const instance = await onlyInstance();
        return instance.status === 'completed' ? instance : undefined;
      }, 3000, 'the instance to complete');
      expect(done.endReason).to.equal(COMPLETED_REASON);
      expect(done.endedAt).to.be.instanceOf(Date);
    });

    it('completes when a node drops the msg, and when the entry output is not wired at all', async () => {
      await load([
        eventIn([['vip']]),
        node('vip', 'switch', { property: 'payload.userId', propertyType: 'msg', rules: [{ t: 'eq', v: 'vip', vt: 'str' }], checkall: 'true', outputs: 1 }, [['end']]),
        helperNode('end'),
        node('bare', 'event-in', { store: 'store', journey: 'bare', reentry: 'always' }, []),
      ]);
      enter('not-vip');
      helper.getNode('bare').receive({ payload: { name: 'signed_up', userId: 'b1', messageId: 'bare-1' } });
      const ended = await eventually(async () => {
        const all = await instances();
        return all.length === 2 && all.every((i) => i.status === 'completed') ? all : undefined;
      }, 3000, 'both instances to complete');
      expect(ended.map((i) => i.journey).sort()).to.deep.equal(['bare', 'welcome']);
    });

    it('stays active while one branch still holds a copy, and completes when that copy is done', async () => {
      await load([
        eventIn([['end', 'slow']]),
        node('slow', 'delay', { pauseType: 'delay', timeout: '700', timeoutUnits: 'milliseconds' }, [['late']]),
        helperNode('end'),
        helperNode('late'),
      ]);
      const late = nextMessage('late');
      enter('c3');
      await nextMessage('end');
      await sleep(250);
      expect((await onlyInstance()).status).to.equal('active');
      await late;
      await eventually(async () => ((await onlyInstance()).status === 'completed' ? true : undefined), 3000, 'the instance to complete');
    });

    // A journey node's sends are routed in order, each after the resume points of those before
    // it are written. A msg that needs no point of its own (event-in wrote it with the
    // enrolment) still waits behind another's write, and its node has finished with it
    // meanwhile: its instance must not complete before the msg goes on.
    it('stays active while its msg waits behind another instance\'s resume point', async () => {
      await load([eventIn([['merge'], []]), node('merge', 'profile-merge', { store: 'store' }, [['end']]), helperNode('end')]);
      const carrier = carriers.get('merge')!;
      carriers.set('merge', {
        term: carrier.term,
        async writePoint(...args) {
          await sleep(600);
          return carrier.writePoint(...args);
        },
      });
      const first = nextMessage('end');
      enter('c6');
      const { profileId } = await first;
      // A msg of another instance (a resumed one, say) leaves merge first and needs its point written.
      helper.getNode('merge').receive({ payload: {}, profileId, journey: { name: 'welcome', instanceId: 'resumed-elsewhere' } });
      await sleep(50);
      const queued = nextMessage('end', 3000);
      enter('c7');
      await sleep(250);
      const entered = (await instances()).find((i) => i.path[0]?.node === 'in' && i.profileId !== profileId);
      expect(entered?.status, 'the instance behind the write').to.equal('active');
      await queued;
      await eventually(async () => ((await instances()).every((i) => i.status === 'completed') ? true : undefined), 3000, 'both instances to complete');
    });

    it('does not complete an instance that an exit event ended while its msg was in flight', async () => {
      await load([
        eventIn([['slow']], { trigger: 'signed_up' }),
        node('slow', 'delay', { pauseType: 'delay', timeout: '600', timeoutUnits: 'milliseconds' }, [['late']]),
        helperNode('late'),
      ]);
      const late = nextMessage('late');
      enter('c4');
      await sleep(150);
      enter('c4', 'unsubscribed');
      await late;
      await sleep(200);
      const instance = await onlyInstance();
      expect(instance.status).to.equal('exited');
      expect(instance.endReason).to.not.equal(COMPLETED_REASON);
    });

    it('leaves a parked instance waiting, and completes it after it resumes and reaches the end', async () => {
      await load([
        eventIn([['wait']]),
        node('wait', 'wait', { store: 'store', mode: 'duration', amount: 0.6, unit: 'seconds' }, [['end'], []]),
        helperNode('end'),
      ]);
      const status = recordStatus('wait');
      const resumed = nextMessage('end', 8000);
      enter('c5');
      await eventually(() => status.calls.find((s) => s.text === 'wait.status.waiting'), 3000, 'the wait to start');
      await sleep(150);
      expect((await onlyInstance()).status).to.equal('waiting');
      await resumed;
      const done = await eventually(async () => {
        const instance = await onlyInstance();
        return instance.status === 'completed' ? instance : undefined;
      }, 3000, 'the resumed instance to complete');
      expect(done.path.map((s) => s.node)).to.deep.equal(['in', 'wait']);
    });
  });
});
