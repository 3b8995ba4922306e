/**
 * send-sms in a real Node-RED runtime (node-red-node-test-helper), on both stores, sending
 * through the real Twilio SDK to a local server that speaks Twilio's Messages API, with the
 * inbound and status-callback webhooks served on the runtime's own HTTP app and called over HTTP.
 */
import { expect } from 'chai';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeInitializer, NodeMessageInFlow } from 'node-red';
import twilio from 'twilio';
import { COLLECTIONS, journeyReport, type Delivery, type DeliverySummary, type Profile, type Store } from '../../lib/index.js';
import sendSms = require('../../nodes/send-sms/send-sms.js');
import twilioAccount = require('../../nodes/twilio-account/twilio-account.js');
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { asItReached, coreNode, eventually, helper, journeyNodes, nextMessage, recordStatus, sleep, type FlowNode } from '../support/node-red.js';
import { testAccount, TwilioApiServer } from '../support/twilio-api.js';
import { catchAll, forEachBackend, helperNode, node, tab, useHelperRuntime } from './flows.js';

const catchNode = coreNode('common/25-catch.js');

/** Hands the test the runtime's HTTP app (RED.httpNode), where the inbound webhook lives. */
let httpNodeApp: ((req: unknown, res: unknown) => void) | null = null;
const captureHttp: NodeInitializer = (RED) => {
  httpNodeApp = RED.httpNode as unknown as (req: unknown, res: unknown) => void;
};

const FROM = '+15005550006';
const BODY = 'Hi {{ profile.traits.firstName }}, your {{ profile.traits.plan }} plan is ready ({{ event.name }}). Reply STOP to opt out.';

describe('send-sms node', function () {
  this.timeout(30_000);
  useHelperRuntime();

  const account = testAccount();
  const api = new TwilioApiServer(account.accountSid, account.authToken);
  let web: Server;
  let webUrl = '';
  before(async () => {
    await api.start();
    // A server in front of the runtime's HTTP app, where Twilio's webhook requests arrive.
    const { createServer } = await import('node:http');
    web = createServer((req, res) => (httpNodeApp ? httpNodeApp(req, res) : res.writeHead(503).end()));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  });
  after(async () => {
    await api.stop();
    await new Promise((resolve) => web.close(resolve));
  });
  beforeEach(() => api.reset());

  forEachBackend((ctx) => {
    const storeNode = () => ({ ...ctx.store.node, publicUrl: webUrl });
    const accountNode = (): FlowNode => ({ id: 'twilio', type: 'twilio-account', accountSid: account.accountSid, from: FROM, baseUrl: api.baseUrl, store: 'store' });
    const flow = (send: Record<string, unknown> = {}, withAccount = true): FlowNode[] => [
      tab(),
      storeNode(),
      ...(withAccount ? [accountNode()] : []),
      node('in', 'event-in', { store: 'store', journey: 'welcome', trigger: 'signed_up', reentry: 'always' }, [['merge'], ['rejected']]),
      node('merge', 'profile-merge', { store: 'store', strategy: 'overwrite' }, [['send']]),
      node('send', 'send-sms', { store: 'store', account: withAccount ? 'twilio' : '', body: BODY, consent: 'opt-in', ...send }, [['sent'], ['not-sent']]),
      helperNode('sent'),
      helperNode('not-sent'),
      helperNode('rejected'),
      catchAll('caught'),
      helperNode('caught'),
    ];
    const load = (nodes: FlowNode[]) =>
      helper.load([...journeyNodes, twilioAccount, sendSms, catchNode, captureHttp], nodes, { ...ctx.store.credentials, twilio: { authToken: account.authToken } });
    const store = () => (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
    const deliveries = (s: Store) => s.collection<Delivery>(COLLECTIONS.deliveries);
    const profileOf = async (id: unknown) => (await store()).collection<Profile>(COLLECTIONS.profiles).findOne({ _id: id as string });
    const delivery = (msg: NodeMessageInFlow) => msg.delivery as DeliverySummary;

    let seq = 0;
    /** A sign-up event for `userId` with `phone`, through event-in and profile-merge to send-sms. */
    function signUp(userId: string, phone: string | null, consent: Record<string, boolean> = { sms: true }) {
      seq += 1;
      helper.getNode('in').receive({
        payload: {
          name: 'signed_up',
          identities: { userId, ...(phone && /^\+?\d+$/.test(phone) ? { phone } : {}) },
          traits: { firstName: 'Ada', plan: 'pro', ...(phone ? { phone } : {}) },
          consent,
          messageId: `m-${userId}-${seq}`,
        },
      });
    }

    it('sends the personalised SMS once through Twilio, and not again for the same journey instance', async () => {
      await load(flow());
      const sent = nextMessage('sent');
      signUp('u1', '+1 (555) 123-0001');
      const msg = await sent;
      expect(delivery(msg)).to.include({ status: 'sent', channel: 'sms', outbox: false, attempts: 1 });
      expect(delivery(msg).to).to.deep.equal(['+15551230001']);
      expect(api.accepted).to.have.length(1);
      expect(api.accepted[0]).to.include({ to: '+15551230001', from: FROM, body: 'Hi Ada, your pro plan is ready (signed_up). Reply STOP to opt out.' });
      expect(delivery(msg).providerMessageId).to.equal(api.accepted[0]!.sid);
      const record = await deliveries(await store()).findOne({ _id: delivery(msg).id });
      expect(record).to.include({ status: 'sent', channel: 'sms', provider: 'twilio', journey: 'welcome', profileId: msg.profileId });

      const again = nextMessage('not-sent');
      helper.getNode('send').receive({ ...asItReached(msg, 'send'), _msgid: 'another-id' });
      expect(delivery(await again)).to.include({ reason: 'duplicate', status: 'sent' });
      await sleep(200);
      expect(api.requests).to.equal(1);
    });

    it('does not send to a number that is not E.164, nor to someone without consent', async () => {
      await load(flow());
      const bad = nextMessage('not-sent');
      signUp('u2', '555-0100');
      expect(delivery(await bad)).to.include({ status: 'skipped', reason: 'bad-address' });
      const none = nextMessage('not-sent');
      signUp('u3', '+15551230003', {});
      expect(delivery(await none)).to.include({ status: 'skipped', reason: 'no-consent' });
      const noPhone = nextMessage('not-sent');
      signUp('u3b', null);
      expect(delivery(await noPhone)).to.include({ status: 'skipped', reason: 'no-address' });
      expect(api.requests).to.equal(0);
    });

    it('retries a 429 after its Retry-After and sends on the second attempt', async () => {
      await load(flow());
      // 2 s: longer than the first back-off (1 s ± 20 %), so the wait shows Retry-After was honoured.
      api.refuseNext.push({ status: 429, retryAfter: 2 });
      const started = Date.now();
      const sent = nextMessage('sent', 15_000);
      signUp('u4', '+15551230004');
      expect(delivery(await sent)).to.include({ status: 'sent', attempts: 2 });
      expect(Date.now() - started).to.be.at.least(1900);
      expect(api.requests).to.equal(2);
      expect(api.accepted).to.have.length(1);
    });

    it('fails a send Twilio refuses with 21610 as stop, denies SMS consent, and tells Catch nodes', async () => {
      await load(flow());
      api.refuseNext.push({ status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' });
      const failed = nextMessage('not-sent');
      const caught = nextMessage('caught');
      signUp('u5', '+15551230005');
      const msg = await failed;
      expect(delivery(msg)).to.include({ status: 'failed', reason: 'stop', attempts: 1 });
      const error = (await caught).error as { message: string; source: { id: string } };
      expect(error.source.id).to.equal('send');
      expect(error.message).to.contain('journeys.send.errors.not-sent');
      expect((await profileOf(msg.profileId))!.consent.sms).to.include({ status: 'denied', reason: 'stop' });

      // The next send to this person is refused here, without asking Twilio.
      const refused = nextMessage('not-sent');
      helper.getNode('send').receive({ profileId: msg.profileId, journey: { name: 'welcome', instanceId: 'another-instance' } });
      expect(delivery(await refused)).to.include({ status: 'skipped', reason: 'stop' });
      expect(api.requests).to.equal(1);
    });

    it('applies STOP and START from the signed inbound webhook, answers unknown numbers alike, and refuses forged requests', async () => {
      await load(flow());
      const sent = nextMessage('sent');
      signUp('u6', '+15551230006');
      const msg = await sent;
      const url = `${webUrl}/journeys/sms/inbound/twilio`;
      const post = (params: Record<string, string>, signature: string) =>
        fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() });
      const inbound = (from: string, body: string, sid: string) => ({ AccountSid: account.accountSid, MessageSid: sid, SmsSid: sid, From: from, To: FROM, Body: body, NumMedia: '0' });
      const signed = (params: Record<string, string>) => post(params, twilio.getExpectedTwilioSignature(account.authToken, url, params));

      const stop = await signed(inbound('+15551230006', 'STOP', `SM${'a'.repeat(32)}`));
      expect(stop.status).to.equal(200);
      expect(stop.headers.get('content-type')).to.match(/^text\/xml/);
      const twiml = await stop.text();
      expect(twiml).to.contain('<Response/>');
      expect((await profileOf(msg.profileId))!.consent.sms).to.include({ status: 'denied', reason: 'stop' });

      // Forged: signed with another token, or a signed request with its body changed.
      const start = inbound('+15551230006', 'START', `SM${'b'.repeat(32)}`);
      expect((await post(start, twilio.getExpectedTwilioSignature('not-the-token', url, start))).status).to.equal(403);
      const tampered = await post({ ...start, From: '+15551230007' }, twilio.getExpectedTwilioSignature(account.authToken, url, start));
      expect(tampered.status).to.equal(403);
      expect((await post(start, '')).status).to.equal(403);
      expect((await profileOf(msg.profileId))!.consent.sms?.status).to.equal('denied');

      const started = await signed(start);
      expect(started.status).to.equal(200);
      expect((await profileOf(msg.profileId))!.consent.sms?.status).to.equal('granted');

      // A number nobody has: the same answer, and no profile made for it.
      const profiles = await (await store()).collection<Profile>(COLLECTIONS.profiles).count({});
      const unknown = await signed(inbound('+15559990000', 'STOP', `SM${'c'.repeat(32)}`));
      expect(unknown.status).to.equal(200);
      expect(await unknown.text()).to.equal(twiml);
      expect(await (await store()).collection<Profile>(COLLECTIONS.profiles).count({})).to.equal(profiles);

      // Too large a body is refused before it is parsed.
      const huge = inbound('+15551230006', 'x'.repeat(20_000), `SM${'d'.repeat(32)}`);
      expect((await signed(huge)).status).to.equal(413);
      expect((await fetch(`${webUrl}/journeys/sms/inbound/no-such-account`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Body=STOP' })).status).to.equal(404);
    });

    it('verifies signatures over the public URL Twilio was given (behind a proxy), and applies nothing without a store', async () => {
      const publicUrl = 'https://journeys.example.com/red';
      const nodes = flow().map((n) => (n.id === 'store' ? { ...n, publicUrl } : n));
      await load(nodes);
      const sent = nextMessage('sent');
      signUp('u9', '+15551230009');
      const msg = await sent;
      const params = { AccountSid: account.accountSid, MessageSid: `SM${'e'.repeat(32)}`, From: '+15551230009', To: FROM, Body: 'stop' };
      const post = (signedFor: string) =>
        fetch(`${webUrl}/journeys/sms/inbound/twilio`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(account.authToken, signedFor, params) },
          body: new URLSearchParams(params).toString(),
        });
      expect((await post(`https://elsewhere.example.com/journeys/sms/inbound/twilio`)).status).to.equal(403);
      expect((await post(`${publicUrl}/journeys/sms/inbound/twilio`)).status).to.equal(200);
      expect((await profileOf(msg.profileId))!.consent.sms).to.include({ status: 'denied', reason: 'stop' });

      // An account with no store for replies still answers Twilio, but changes nothing and says so.
      await helper.unload();
      await load(flow().map((n) => (n.id === 'twilio' ? { ...n, store: '' } : n)));
      const again = { ...params, MessageSid: `SM${'f'.repeat(32)}`, Body: 'START' };
      const url = `${webUrl}/journeys/sms/inbound/twilio`;
      const answered = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(account.authToken, url, again) },
        body: new URLSearchParams(again).toString(),
      });
      expect(answered.status).to.equal(200);
      const warnings = (helper.log().args as Array<[{ id?: string; level?: number; msg?: unknown }]>).filter(([e]) => e.id === 'twilio' && e.level === 30);
      expect(warnings.map(([e]) => String(e.msg))).to.include('twilio-account.errors.no-inbound-store');
    });

    it("names the account's status route as StatusCallback, records Twilio's signed receipts on the delivery, and refuses forged ones", async () => {
      await load(flow());
      const sent = nextMessage('sent');
      signUp('u10', '+15551230010');
      const msg = await sent;
      const [message] = api.accepted;
      expect(message!.statusCallback).to.equal(`${webUrl}/journeys/sms/status/twilio`);
      const stored = async () => (await deliveries(await store()).findOne({ _id: delivery(msg).id }))!;

      // Signed with another token: refused, and nothing recorded.
      expect((await api.reportStatus(message!, 'delivered', { authToken: 'not-the-token' })).status).to.equal(403);
      expect((await stored()).receipt).to.equal(undefined);

      // The statuses on the way are taken and change nothing.
      const queued = await api.reportStatus(message!, 'sent');
      expect(queued.status).to.equal(200);
      expect(await queued.text()).to.equal('');
      expect((await stored()).receipt).to.equal(undefined);

      // The store failing: 500, so Twilio calls again later.
      const config = helper.getNode('store') as unknown as JourneyStoreConfigNode;
      const getStore = config.getStore;
      config.getStore = () => Promise.reject(new Error('the store is down'));
      try {
        expect((await api.reportStatus(message!, 'delivered')).status).to.equal(500);
      } finally {
        config.getStore = getStore;
      }
      expect((await stored()).receipt).to.equal(undefined);

      const delivered = await api.reportStatus(message!, 'delivered');
      expect(delivered.status).to.equal(200);
      const after = await stored();
      expect(after).to.include({ status: 'sent', providerMessageId: message!.sid });
      expect(after.receipt).to.include({ status: 'delivered' });
      expect(after.deliveredAt).to.be.instanceOf(Date);

      // Retried, and a late undelivered: answered alike, the receipt stays and counts once.
      expect((await api.reportStatus(message!, 'delivered')).status).to.equal(200);
      expect((await api.reportStatus(message!, 'undelivered', { errorCode: '30003' })).status).to.equal(200);
      expect((await stored()).receipt).to.deep.equal(after.receipt);
      const row = (await journeyReport(await store(), 'welcome')).channels.find((c) => c.node === 'send');
      expect(row).to.include({ sent: 1, delivered: 1, undelivered: 0 });

      // A message nobody here sent is answered 200 too, so Twilio stops retrying.
      expect((await api.reportStatus({ ...message!, sid: `SM${'9'.repeat(32)}` }, 'delivered')).status).to.equal(200);
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      expect((await fetch(`${webUrl}/journeys/sms/status/no-such-account`, { method: 'POST', headers: form, body: 'MessageStatus=delivered' })).status).to.equal(404);
      expect((await fetch(`${webUrl}/journeys/sms/status/twilio`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).to.equal(415);
      expect((await fetch(`${webUrl}/journeys/sms/status/twilio`, { method: 'POST', headers: form, body: `Body=${'x'.repeat(20_000)}` })).status).to.equal(413);

      // An account without a store for replies names no StatusCallback.
      await helper.unload();
      await load(flow().map((n) => (n.id === 'twilio' ? { ...n, store: '' } : n)));
      const again = nextMessage('sent');
      signUp('u11', '+15551230011');
      await again;
      expect(api.accepted[1]).to.include({ to: '+15551230011', statusCallback: null });
    });

    it('withdraws SMS consent when a signed receipt says the person replied STOP (21610)', async () => {
      await load(flow());
      const sent = nextMessage('sent');
      signUp('u12', '+15551230012');
      const msg = await sent;
      expect((await api.reportStatus(api.accepted[0]!, 'undelivered', { errorCode: '21610' })).status).to.equal(200);
      expect((await profileOf(msg.profileId))!.consent.sms).to.include({ status: 'denied', reason: 'stop' });
      const logged = (helper.log().args as Array<[{ id?: string; msg?: unknown }]>).filter(([e]) => e.id === 'twilio').map(([e]) => String(e.msg));
      expect(logged).to.include('twilio-account.log.receipt-withdrew');
      const refused = nextMessage('not-sent');
      helper.getNode('send').receive({ profileId: msg.profileId, journey: { name: 'welcome', instanceId: 'another-instance' } });
      expect(delivery(await refused)).to.include({ status: 'skipped', reason: 'stop' });
      expect(api.requests).to.equal(1);
    });

    it('records and shows in the outbox, sending nothing, when no account is chosen', async () => {
      await load(flow({}, false));
      const status = recordStatus('send');
      const sent = nextMessage('sent');
      signUp('u7', '+15551230007');
      const msg = await sent;
      expect(delivery(msg)).to.include({ status: 'sent', outbox: true });
      const record = await deliveries(await store()).findOne({ _id: delivery(msg).id });
      expect(record).to.include({ provider: 'outbox', outbox: true, status: 'sent' });
      expect(record!.content.body).to.equal('Hi Ada, your pro plan is ready (signed_up). Reply STOP to opt out.');
      await eventually(() => status.calls.find((c) => String(c.text).startsWith('journeys.send.status.outbox-counts')), 3000, 'the outbox badge');
      expect(api.requests).to.equal(0);
    });

    it('refuses at deploy an account with a malformed SID, and sends nothing', async () => {
      const nodes = flow().map((n) => (n.id === 'twilio' ? { ...n, accountSid: 'SK123' } : n));
      await load(nodes);
      const errors = () =>
        (helper.log().args as Array<[{ id?: string; level?: number; msg?: unknown }]>).filter(([e]) => e.id === 'send' && e.level === 20).map(([e]) => String(e.msg));
      await eventually(() => errors()[0], 3000, 'the deploy error');
      expect(errors()[0]).to.equal('journeys.send.errors.bad-config');
      signUp('u8', '+15551230008');
      await sleep(300);
      expect(api.requests).to.equal(0);
    });
  });
});
