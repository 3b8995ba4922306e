/**
 * A slow or failing provider in a real Node-RED runtime: two journeys, each sending through
 * its own account (Twilio, SMTP, FCM doubles on 127.0.0.1). While journey A's provider
 * refuses with 429, hangs, or stalls, journey B's sends go out, and A's node keeps taking
 * new msgs; A's send backs off by the account's policy and ends in a way a Catch node sees.
 */
import { expect } from 'chai';
import type { NodeMessageInFlow } from 'node-red';
import { COLLECTIONS, type Delivery, type DeliverySummary } from '../../lib/index.js';
import emailAccount = require('../../nodes/email-account/email-account.js');
import fcmAccount = require('../../nodes/fcm-account/fcm-account.js');
import sendEmail = require('../../nodes/send-email/send-email.js');
import sendPush = require('../../nodes/send-push/send-push.js');
import sendSms = require('../../nodes/send-sms/send-sms.js');
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import twilioAccount = require('../../nodes/twilio-account/twilio-account.js');
import { TestFcmApi } from '../support/fcm-api.js';
import { collect, coreNode, eventually, helper, journeyNodes, type FlowNode } from '../support/node-red.js';
import { TestSmtpServer } from '../support/smtp.js';
import { testAccount, TwilioApiServer } from '../support/twilio-api.js';
import { backends, catchAll, forEachBackend, helperNode, node, openAfterwards, tab, useHelperRuntime, type StoreNode } from './flows.js';

const catchNode = coreNode('common/25-catch.js');
const FROM = '+15005550006';
/** Journey A's account: a short timeout and quick retries, so a failing provider shows in seconds. */
const QUICK = { timeout: 1, attempts: 3, retryDelay: 0.2 };

type Channel = 'sms' | 'email' | 'push';
const SENDER: Record<Channel, string> = { sms: 'send-sms', email: 'send-email', push: 'send-push' };
const CONTENT: Record<Channel, Record<string, string | boolean>> = {
  sms: { body: 'Hi {{ profile.traits.firstName }}' },
  email: { subject: 'Hi {{ profile.traits.firstName }}', html: '', text: 'Hello', trackOpens: false, trackClicks: false, unsubscribe: false },
  push: { title: 'Hi {{ profile.traits.firstName }}', body: 'Your cart', link: '' },
};

/**
 * Two journeys, `a` and `b`, each event-in -> profile-merge -> sender with its own account,
 * outputs to helper nodes sent-a / not-sent-a / sent-b / not-sent-b, and a Catch node.
 */
function twoJourneys(store: StoreNode, channel: Channel, accounts: { a: FlowNode; b: FlowNode }): FlowNode[] {
  const journey = (j: 'a' | 'b'): FlowNode[] => [
    node(`in-${j}`, 'event-in', { store: 'store', journey: j, trigger: `${j}_signed_up`, reentry: 'always' }, [[`merge-${j}`], []]),
    node(`merge-${j}`, 'profile-merge', { store: 'store', strategy: 'overwrite' }, [[`send-${j}`]]),
    node(`send-${j}`, SENDER[channel], { store: 'store', account: accounts[j].id, consent: 'opt-in', ...CONTENT[channel] }, [[`sent-${j}`], [`not-sent-${j}`]]),
    helperNode(`sent-${j}`),
    helperNode(`not-sent-${j}`),
  ];
  return [tab(), store.node, accounts.a, accounts.b, ...journey('a'), ...journey('b'), catchAll('caught'), helperNode('caught')];
}

let seq = 0;
/** A sign-up to journey `j` for `userId`, with the address and consent `channel` needs. */
function signUp(j: 'a' | 'b', channel: Channel, userId: string): void {
  seq += 1;
  const n = String(1_000 + seq).slice(-4);
  const identities: Record<Channel, Record<string, string>> = {
    sms: { phone: `+1555123${n}` },
    email: { email: `${userId}@example.com` },
    push: { deviceToken: `tok-${userId}` },
  };
  helper.getNode(`in-${j}`).receive({
    payload: {
      name: `${j}_signed_up`,
      identities: { userId, ...identities[channel] },
      traits: { firstName: 'Ada', ...(channel === 'sms' ? { phone: identities.sms.phone } : {}) },
      consent: { [channel]: true },
      messageId: `m-${userId}-${seq}`,
    },
  });
}

const delivery = (msg: NodeMessageInFlow) => msg.delivery as DeliverySummary;
const userOf = (msg: NodeMessageInFlow) => (msg.payload as { identities?: { userId?: string } } | undefined)?.identities?.userId;
const deliveryOf = async (j: 'a' | 'b') => {
  const store = await (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
  return store.collection<Delivery>(COLLECTIONS.deliveries).findOne({ journey: j });
};
const caughtCode = (msg: NodeMessageInFlow) => (msg.error as { code?: string; source?: { id?: string } }).code;

describe('provider faults', function () {
  this.timeout(30_000);
  useHelperRuntime();

  describe('two journeys on two Twilio accounts', () => {
    const accountA = testAccount();
    const accountB = testAccount();
    const apiA = new TwilioApiServer(accountA.accountSid, accountA.authToken);
    const apiB = new TwilioApiServer(accountB.accountSid, accountB.authToken);
    before(async () => {
      await apiA.start();
      await apiB.start();
    });
    after(async () => {
      await apiA.stop();
      await apiB.stop();
    });
    beforeEach(() => {
      apiA.reset();
      apiB.reset();
    });

    const load = (store: StoreNode) =>
      helper.load([...journeyNodes, twilioAccount, sendSms, catchNode], twoJourneys(store, 'sms', {
        a: { id: 'twilio-a', type: 'twilio-account', accountSid: accountA.accountSid, from: FROM, baseUrl: apiA.baseUrl, ...QUICK },
        b: { id: 'twilio-b', type: 'twilio-account', accountSid: accountB.accountSid, from: FROM, baseUrl: apiB.baseUrl },
      }), { ...store.credentials, 'twilio-a': { authToken: accountA.authToken }, 'twilio-b': { authToken: accountB.authToken } });

    forEachBackend((ctx) => {
      it("keeps journey B's sends flowing while A's account answers 429, and ends A's send after its attempts, for Catch nodes", async () => {
        await load(ctx.store);
        const [sentB, notSentA, caught] = [collect('sent-b'), collect('not-sent-a'), collect('caught')];
        // Every attempt refused, each asking for 2 s: A's send is busy for 4 s at least.
        apiA.refuseNext.push(...Array.from({ length: QUICK.attempts }, () => ({ status: 429 as const, retryAfter: 2 })));
        signUp('a', 'sms', 'ua');
        await eventually(() => (apiA.requests === 1 ? true : undefined), 5_000, "A's first refused attempt");
        for (const user of ['ub1', 'ub2', 'ub3', 'ub4', 'ub5']) signUp('b', 'sms', user);

        await eventually(() => (sentB.length === 5 ? true : undefined), 10_000, "journey B's five sends");
        expect(notSentA, "A's send still backing off while B's went out").to.have.length(0);
        expect(await deliveryOf('a')).to.include({ status: 'queued' });
        expect(apiB.accepted).to.have.length(5);

        await eventually(() => (notSentA.length === 1 ? true : undefined), 15_000, "A's send to end");
        expect(delivery(notSentA[0]!)).to.include({ status: 'failed', reason: 'provider-unavailable', attempts: QUICK.attempts });
        expect(apiA.requests).to.equal(QUICK.attempts);
        expect(apiA.accepted).to.have.length(0);
        await eventually(() => (caught.length === 1 ? true : undefined), 2_000, 'the Catch node');
        expect(caughtCode(caught[0]!)).to.equal('TWILIO_20429');
      });

      it("ends a send to a Twilio that never answers as unknown-outcome after the account's timeout, without sending it again, while the same node and journey B go on", async () => {
        await load(ctx.store);
        const [sentA, notSentA, sentB, caught] = [collect('sent-a'), collect('not-sent-a'), collect('sent-b'), collect('caught')];
        apiA.refuseNext.push({ status: 'hang' });
        signUp('a', 'sms', 'hung');
        await eventually(() => (apiA.requests === 1 ? true : undefined), 5_000, "A's request to hang");
        signUp('a', 'sms', 'next');
        signUp('b', 'sms', 'other');

        await eventually(() => (sentA.length === 1 && sentB.length === 1 ? true : undefined), 5_000, 'the later sends of A and B');
        expect(notSentA, 'the hung send still waiting for its answer').to.have.length(0);

        await eventually(() => (notSentA.length === 1 ? true : undefined), 10_000, 'the hung send to end');
        expect(delivery(notSentA[0]!)).to.include({ status: 'failed', reason: 'unknown-outcome', attempts: 1 });
        await eventually(() => (caught.length === 1 ? true : undefined), 2_000, 'the Catch node');
        expect(caughtCode(caught[0]!)).to.equal('TWILIO_NO_ANSWER');
        expect(apiA.requests, 'the unanswered request is not made again').to.equal(2);
      });

      // The account's timeout (30 s by default) outlasts Node-RED's limit on a node's close (15 s).
      it('gives up on a Twilio that never answers when the flow stops, inside the close limit, and records the send unknown-outcome', async () => {
        await load(ctx.store);
        apiB.refuseNext.push({ status: 'hang' });
        signUp('b', 'sms', 'closing');
        await eventually(() => (apiB.requests === 1 ? true : undefined), 5_000, "B's request to hang");
        const started = Date.now();
        await helper.unload();
        expect(Date.now() - started, 'ms to stop the flow').to.be.below(14_000);
        const reopened = await openAfterwards(ctx.store.node, ctx.store.credentials);
        try {
          const sms = await reopened.collection<Delivery>(COLLECTIONS.deliveries).findOne({ journey: 'b' });
          expect(sms).to.include({ status: 'failed', reason: 'unknown-outcome', attempts: 1 });
          expect(sms?.error?.code).to.equal('ABANDONED');
        } finally {
          await reopened.close();
        }
      });
    });

    describe(`on the ${backends[0]!.name} store`, () => {
      it('takes and sends new msgs on the same node while an earlier one waits out its Retry-After, then sends that one', async () => {
        const store = await backends[0]!.store();
        await load(store);
        const sentA = collect('sent-a');
        apiA.refuseNext.push({ status: 429, retryAfter: 2 });
        signUp('a', 'sms', 'first');
        await eventually(() => (apiA.requests === 1 ? true : undefined), 5_000, 'the refused attempt');
        signUp('a', 'sms', 'second');
        await eventually(() => (sentA.length === 2 ? true : undefined), 10_000, 'both sends');
        expect(sentA.map((m) => [userOf(m), delivery(m).attempts])).to.deep.equal([
          ['second', 1],
          ['first', 2],
        ]);
      });
    });
  });

  describe('two journeys on two SMTP accounts', () => {
    const smtpA = new TestSmtpServer();
    const smtpB = new TestSmtpServer();
    before(async () => {
      await smtpA.start();
      await smtpB.start();
    });
    after(async () => {
      await smtpA.stop();
      await smtpB.stop();
    });
    beforeEach(() => {
      for (const server of [smtpA, smtpB]) {
        server.received.length = 0;
        server.stallGreetings = 0;
      }
    });

    forEachBackend((ctx) => {
      it("keeps journey B's email flowing while A's server never greets, and retries A's once the server answers", async () => {
        const smtp = (id: string, server: TestSmtpServer, extra = {}): FlowNode => ({ id, type: 'email-account', host: '127.0.0.1', port: server.port, tls: 'starttls', from: 'Shop <news@example.com>', ...extra });
        await helper.load([...journeyNodes, emailAccount, sendEmail, catchNode], twoJourneys(ctx.store, 'email', { a: smtp('smtp-a', smtpA, QUICK), b: smtp('smtp-b', smtpB) }), ctx.store.credentials);
        const [sentA, sentB] = [collect('sent-a'), collect('sent-b')];
        smtpA.stallGreetings = 1;
        signUp('a', 'email', 'ua');
        for (const user of ['ub1', 'ub2', 'ub3']) signUp('b', 'email', user);

        await eventually(() => (sentB.length === 3 ? true : undefined), 5_000, "journey B's emails");
        expect(sentA, "A's email still waiting for a greeting").to.have.length(0);
        expect(smtpB.received).to.have.length(3);

        await eventually(() => (sentA.length === 1 ? true : undefined), 10_000, "A's email");
        expect(delivery(sentA[0]!)).to.include({ status: 'sent', attempts: 2 });
        expect(smtpA.received.map((r) => r.to)).to.deep.equal([['ua@example.com']]);
      });
    });
  });

  describe('two journeys on two FCM projects', () => {
    const fcmA = new TestFcmApi();
    const fcmB = new TestFcmApi();
    before(async () => {
      await fcmA.start();
      await fcmB.start();
    });
    after(async () => {
      await fcmA.stop();
      await fcmB.stop();
    });
    beforeEach(() => {
      fcmA.reset();
      fcmB.reset();
    });

    it("keeps journey B's pushes flowing while A's FCM takes a send and never answers, which ends as unknown-outcome", async () => {
      const store = await backends[0]!.store();
      const fcm = (id: string, api: TestFcmApi, extra = {}): FlowNode => ({ id, type: 'fcm-account', endpoint: api.endpoint, ...extra });
      await helper.load([...journeyNodes, fcmAccount, sendPush, catchNode], twoJourneys(store, 'push', { a: fcm('fcm-a', fcmA, QUICK), b: fcm('fcm-b', fcmB) }), {
        ...store.credentials,
        'fcm-a': { serviceAccount: JSON.stringify(fcmA.serviceAccount()) },
        'fcm-b': { serviceAccount: JSON.stringify(fcmB.serviceAccount()) },
      });
      const [notSentA, sentB, caught] = [collect('not-sent-a'), collect('sent-b'), collect('caught')];
      fcmA.answer('tok-ua', 'hang');
      signUp('a', 'push', 'ua');
      await eventually(() => (fcmA.requests.some((r) => r.path.endsWith('messages:send')) ? true : undefined), 5_000, "A's send to hang");
      for (const user of ['ub1', 'ub2']) signUp('b', 'push', user);

      await eventually(() => (sentB.length === 2 ? true : undefined), 5_000, "journey B's pushes");
      expect(notSentA).to.have.length(0);

      await eventually(() => (notSentA.length === 1 ? true : undefined), 10_000, "A's push to end");
      expect(delivery(notSentA[0]!)).to.include({ status: 'failed', reason: 'unknown-outcome', attempts: 1 });
      await eventually(() => (caught.length === 1 ? true : undefined), 2_000, 'the Catch node');
      expect(caughtCode(caught[0]!)).to.equal('FCM_TIMEOUT');
      expect(fcmA.accepted).to.have.length(0);
      expect(fcmB.accepted.map((m) => m.token)).to.have.members(['tok-ub1', 'tok-ub2']);
    });
  });
});
