/**
 * send-push in a real Node-RED runtime (node-red-node-test-helper), on both stores, sending
 * with the real firebase-admin SDK, whose token and FCM requests the account's API endpoint
 * routes to a local server answering as Google does.
 */
import { expect } from 'chai';
import { getApps } from 'firebase-admin/app';
import type { NodeMessageInFlow } from 'node-red';
import { COLLECTIONS, identityKey, resolveProfile, type Delivery, type DeliverySummary, type IdentityDoc, type Profile, type Store } from '../../lib/index.js';
import fcmAccount = require('../../nodes/fcm-account/fcm-account.js');
import sendPush = require('../../nodes/send-push/send-push.js');
import type { AccountNode as FcmAccountNode } from '../../nodes/shared/sender.js';
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { asItReached, coreNode, eventually, helper, journeyNodes, nextMessage, recordStatus, sleep, type FlowNode } from '../support/node-red.js';
import { TestFcmApi } from '../support/fcm-api.js';
import { catchAll, forEachBackend, helperNode, node, tab, useHelperRuntime } from './flows.js';

const catchNode = coreNode('common/25-catch.js');

const TITLE = 'Hi {{ profile.traits.firstName }}';
const BODY = 'Your {{ profile.traits.plan }} plan is ready ({{ event.name }})';
const LINK = 'https://shop.example.com/start?u={{ profile.id }}';

describe('send-push node', function () {
  this.timeout(30_000);
  useHelperRuntime();

  const api = new TestFcmApi();
  before(() => api.start());
  after(() => api.stop());
  beforeEach(() => api.reset());

  forEachBackend((ctx) => {
    const account = (props: Record<string, unknown> = {}): FlowNode => ({ id: 'fcm', type: 'fcm-account', endpoint: api.endpoint, ...props });
    const flow = (send: Record<string, unknown> = {}, withAccount = true): FlowNode[] => [
      tab(),
      ctx.store.node,
      ...(withAccount ? [account()] : []),
      node('in', 'event-in', { store: 'store', journey: 'welcome', trigger: 'signed_up', reentry: 'always' }, [['merge'], ['rejected']]),
      node('merge', 'profile-merge', { store: 'store', strategy: 'overwrite' }, [['send']]),
      node('send', 'send-push', { store: 'store', account: withAccount ? 'fcm' : '', title: TITLE, body: BODY, link: LINK, consent: 'opt-in', ...send }, [['sent'], ['not-sent']]),
      helperNode('sent'),
      helperNode('not-sent'),
      helperNode('rejected'),
      catchAll('caught'),
      helperNode('caught'),
    ];
    const load = (nodes: FlowNode[], serviceAccount: string = JSON.stringify(api.serviceAccount())) =>
      helper.load([...journeyNodes, fcmAccount, sendPush, catchNode], nodes, { ...ctx.store.credentials, fcm: { serviceAccount } });
    const store = () => (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
    const deliveries = (s: Store) => s.collection<Delivery>(COLLECTIONS.deliveries);
    const delivery = (msg: NodeMessageInFlow) => msg.delivery as DeliverySummary;
    const profileOf = async (id: string) => (await store()).collection<Profile>(COLLECTIONS.profiles).findOne({ _id: id });

    let seq = 0;
    /** Devices registered earlier (the app's own events), then a sign-up from one more device through the flow. */
    async function signUp(userId: string, tokens: string[], consent: Record<string, boolean> = { push: true }) {
      const s = await store();
      for (const token of tokens.slice(0, -1)) await resolveProfile(s, { userId, deviceToken: token }, new Date());
      seq += 1;
      const last = tokens[tokens.length - 1];
      helper.getNode('in').receive({
        payload: {
          name: 'signed_up',
          identities: { userId, ...(last ? { deviceToken: last } : {}) },
          traits: { firstName: 'Ada', plan: 'pro' },
          consent,
          messageId: `m-${userId}-${seq}`,
        },
      });
    }

    it('sends the personalised push to each of the profile tokens once, and not again for the same instance', async () => {
      await load(flow());
      const sent = nextMessage('sent', 10_000);
      await signUp('u1', ['u1-phone', 'u1-tablet', 'u1-laptop']);
      const msg = await sent;
      expect(delivery(msg)).to.include({ status: 'sent', channel: 'push', outbox: false, attempts: 1 });
      expect(delivery(msg).to).to.have.members(['u1-phone', 'u1-tablet', 'u1-laptop']);
      expect(api.accepted.map((m) => m.token)).to.have.members(['u1-phone', 'u1-tablet', 'u1-laptop']);
      expect(api.accepted).to.have.length(3);
      for (const { message, project } of api.accepted) {
        expect(project).to.equal(api.project);
        expect(message.notification).to.deep.equal({ title: 'Hi Ada', body: 'Your pro plan is ready (signed_up)' });
        expect((message.data as Record<string, string>).link).to.equal(`https://shop.example.com/start?u=${String(msg.profileId)}`);
        expect((message.data as Record<string, string>).deliveryId).to.equal(delivery(msg).id);
      }
      const record = await deliveries(await store()).findOne({ _id: delivery(msg).id });
      expect(record).to.include({ status: 'sent', provider: 'fcm', journey: 'welcome', node: 'send' });
      expect(record!.results!.every((r) => r.ok)).to.equal(true);
      expect(record!.providerMessageId).to.match(/^projects\/journeys-test\/messages\//);

      const again = nextMessage('not-sent');
      helper.getNode('send').receive({ ...asItReached(msg, 'send'), _msgid: 'another-id' });
      expect(delivery(await again)).to.include({ reason: 'duplicate', status: 'sent' });
      await sleep(200);
      expect(api.accepted).to.have.length(3);
    });

    it('removes a token FCM reports unregistered from the profile, and sends to the others', async () => {
      await load(flow());
      api.answer('u2-old-phone', 'unregistered');
      const sent = nextMessage('sent', 10_000);
      await signUp('u2', ['u2-old-phone', 'u2-new-phone']);
      const msg = await sent;
      expect(delivery(msg).status).to.equal('sent');
      expect(api.accepted.map((m) => m.token)).to.deep.equal(['u2-new-phone']);
      const profile = await eventually(async () => {
        const p = await profileOf(msg.profileId as string);
        return p && !p.identities.deviceToken?.includes('u2-old-phone') ? p : undefined;
      }, 5000, 'the dead token gone from the profile');
      expect(profile.identities.deviceToken).to.deep.equal(['u2-new-phone']);
      const claims = (await store()).collection<IdentityDoc>(COLLECTIONS.identities);
      expect(await claims.findOne({ _id: identityKey('deviceToken', 'u2-old-phone') })).to.equal(null);
      expect(await claims.findOne({ _id: identityKey('deviceToken', 'u2-new-phone') })).to.include({ profileId: msg.profileId });
      const record = await deliveries(await store()).findOne({ _id: delivery(msg).id });
      expect(record!.results!.find((r) => r.to === 'u2-old-phone')).to.include({ ok: false, error: 'messaging/registration-token-not-registered' });
    });

    it('sends nothing when every token is dead, says bad-address on output 2 and to Catch, and forgets the tokens', async () => {
      await load(flow());
      api.answer('u3-a', 'unregistered');
      api.answer('u3-b', 'invalid');
      const failed = nextMessage('not-sent', 10_000);
      const caught = nextMessage('caught', 10_000);
      await signUp('u3', ['u3-a', 'u3-b']);
      const msg = await failed;
      expect(delivery(msg)).to.include({ status: 'failed', reason: 'bad-address', attempts: 1 });
      expect(((await caught).error as { message: string }).message).to.contain('journeys.send.errors.not-sent');
      expect(api.accepted).to.have.length(0);
      await eventually(async () => ((await profileOf(msg.profileId as string))?.identities.deviceToken?.length === 0 ? true : undefined), 5000, 'no tokens left');
    });

    it('retries when FCM is unavailable and sends on the second attempt', async () => {
      await load(flow());
      api.answer('u4-phone', 'unavailable');
      const sent = nextMessage('sent', 15_000);
      await signUp('u4', ['u4-phone']);
      const msg = await sent;
      expect(delivery(msg)).to.include({ status: 'sent', attempts: 2 });
      expect(api.requests.filter((r) => r.path.endsWith('/messages:send')).map((r) => r.status)).to.deep.equal([503, 200]);
      expect(api.accepted).to.have.length(1);
    });

    it('does not send to a profile without push tokens (no-address)', async () => {
      await load(flow());
      const skipped = nextMessage('not-sent');
      await signUp('u5', []);
      expect(delivery(await skipped)).to.include({ status: 'skipped', reason: 'no-address' });
      expect(api.requests).to.have.length(0);
    });

    /** What the node logged at error level. */
    const errorsOf = (id: string) =>
      (helper.log().args as Array<[{ id?: string; level?: number; msg?: unknown }]>).filter(([e]) => e.id === id && e.level === 20).map(([e]) => String(e.msg));

    it('refuses at deploy a service account that is not a key file, saying what is wrong', async () => {
      await load(flow(), JSON.stringify({ ...api.serviceAccount(), type: 'authorized_user' }));
      await eventually(() => errorsOf('send')[0], 3000, 'the deploy error');
      expect(errorsOf('send')[0]).to.equal('journeys.send.errors.bad-config');
      const made = (helper.getNode('fcm') as unknown as FcmAccountNode).provider();
      expect(made).to.be.an('error');
      expect((made as Error).message).to.equal('fcm-account.errors.not-service-account');
      await helper.unload();
      await load(flow(), '{"type": "service_account"');
      expect(((helper.getNode('fcm') as unknown as FcmAccountNode).provider() as Error).message).to.equal('fcm-account.errors.not-json');
      await signUp('u6', ['u6-phone']);
      await sleep(300);
      expect(api.requests).to.have.length(0);
    });

    it('deletes its firebase app when the account closes, so a redeploy leaves none behind', async () => {
      const ours = () => getApps().filter((app) => app.name.startsWith('journeys-fcm:fcm:'));
      await load(flow());
      const sent = nextMessage('sent', 10_000);
      await signUp('u8', ['u8-phone']);
      await sent;
      expect(ours()).to.have.length(1);
      await helper.unload();
      expect(ours()).to.have.length(0);
    });

    it('records the push in the outbox, sending nothing, when no account is chosen', async () => {
      await load(flow({}, false));
      const status = recordStatus('send');
      const sent = nextMessage('sent');
      await signUp('u7', ['u7-phone']);
      const msg = await sent;
      expect(delivery(msg)).to.include({ status: 'sent', outbox: true });
      const record = await deliveries(await store()).findOne({ _id: delivery(msg).id });
      expect(record).to.include({ provider: 'outbox', outbox: true, status: 'sent' });
      expect(record!.content).to.deep.equal({ title: 'Hi Ada', body: 'Your pro plan is ready (signed_up)', link: `https://shop.example.com/start?u=${String(msg.profileId)}` });
      await eventually(() => status.calls.find((c) => String(c.text).startsWith('journeys.send.status.outbox-counts')), 3000, 'the outbox badge');
      expect(api.requests).to.have.length(0);
    });
  });
});
