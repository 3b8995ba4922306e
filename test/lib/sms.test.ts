/**
 * The SMS channel in lib/: phone addresses, the Twilio provider through the real SDK
 * against a local server speaking Twilio's Messages API, error classification, and inbound
 * replies (signature, STOP/START/HELP) on both stores.
 */
import { expect } from 'chai';
import twilio from 'twilio';
import {
  COLLECTIONS,
  identityKey,
  Outbox,
  type Delivery,
  type IdentityDoc,
  type Profile,
  type Store,
} from '../../lib/index.js';
import {
  classifyTwilioError,
  handleInbound,
  inboundKind,
  retryAfterMs,
  smsAddress,
  toE164,
  twilioAccountProblem,
  twilioProvider,
  verifyInbound,
} from '../../lib/channels/sms/index.js';
import { forEachStore, profileDoc } from '../support/stores.js';
import { testAccount, useTwilioApi } from '../support/twilio-api.js';

const FROM = '+15005550006';

function delivery(to: string, body = 'Hello'): Delivery {
  const now = new Date();
  return {
    _id: `sms:test:${Math.random()}`,
    channel: 'sms',
    node: 'n',
    journey: null,
    instanceId: null,
    profileId: 'p1',
    variant: null,
    to: [to],
    content: { body },
    status: 'sending',
    outbox: false,
    provider: 'twilio',
    attempts: 1,
    dueAt: now,
    opens: 0,
    clicks: 0,
    createdAt: now,
    updatedAt: now,
  };
}

describe('sms channel', () => {
  describe('phone addresses', () => {
    it('takes the trait phone first, else the first phone identity, as E.164 without the punctuation', () => {
      expect(smsAddress(profileDoc('a', { traits: { phone: '+44 (20) 7946-0958' }, identities: { phone: ['+15551230000'] } }))).to.deep.equal({ ok: true, to: ['+442079460958'] });
      expect(smsAddress(profileDoc('b', { identities: { userId: ['b'], phone: ['+15551230000', '+15551239999'] } }))).to.deep.equal({ ok: true, to: ['+15551230000'] });
      expect(smsAddress(profileDoc('c', { traits: { phone: '   ' }, identities: { phone: ['+1 555 123 0001'] } }))).to.deep.equal({ ok: true, to: ['+15551230001'] });
    });

    it('says no-address without a number and bad-address for one that is not E.164', () => {
      expect(smsAddress(profileDoc('a'))).to.include({ ok: false, reason: 'no-address' });
      for (const bad of ['555-1234', '0044 20 7946 0958', '+0123456789', '+1234567890123456', '+1 555 CALL NOW', '15551230000']) {
        expect(smsAddress(profileDoc('x', { traits: { phone: bad } })), bad).to.include({ ok: false, reason: 'bad-address' });
      }
      expect(toE164('+1 (555) 123-0000')).to.equal('+15551230000');
      expect(toE164('+12')).to.equal('+12');
      expect(toE164('+')).to.equal(null);
    });
  });

  describe('account settings', () => {
    it('accepts a sender number or a messaging service, and refuses malformed SIDs and URLs', () => {
      const { accountSid, authToken } = testAccount();
      expect(twilioAccountProblem({ accountSid, authToken, from: FROM })).to.equal(null);
      expect(twilioAccountProblem({ accountSid, authToken, from: `MG${'a'.repeat(32)}` })).to.equal(null);
      expect(twilioAccountProblem({ accountSid: 'SK123', authToken, from: FROM })).to.match(/account SID/);
      expect(twilioAccountProblem({ accountSid, authToken: '', from: FROM })).to.match(/auth token/);
      expect(twilioAccountProblem({ accountSid, authToken, from: '555' })).to.match(/sender/);
      expect(twilioAccountProblem({ accountSid, authToken, from: FROM, baseUrl: 'ftp://x' })).to.match(/base URL/);
    });
  });

  describe('the Twilio provider, through the SDK', function () {
    this.timeout(20_000);
    const { api, account } = useTwilioApi();

    it('sends To, From and Body with the account credentials and returns the message SID', async () => {
      const provider = twilioProvider({ ...account, from: FROM, baseUrl: api.baseUrl });
      const result = await provider.send(delivery('+15551230000', 'Hi Ada'));
      expect(result.status).to.equal('sent');
      expect(api.accepted).to.have.length(1);
      const [message] = api.accepted;
      expect(message).to.include({ to: '+15551230000', from: FROM, messagingServiceSid: null, body: 'Hi Ada' });
      expect(message!.sid).to.match(/^SM[0-9a-f]{32}$/);
      expect(result).to.deep.equal({ status: 'sent', providerMessageId: message!.sid });
    });

    it('sends through a messaging service when the sender is an MG SID, and accepts a base URL with a trailing slash', async () => {
      const service = `MG${'0123456789abcdef'.repeat(2)}`;
      const provider = twilioProvider({ ...account, from: service, baseUrl: `${api.baseUrl}/` });
      expect((await provider.send(delivery('+15551230000'))).status).to.equal('sent');
      expect(api.accepted[0]).to.include({ from: null, messagingServiceSid: service });
    });

    it('retries 429 (keeping Retry-After) and 500, and a server that cannot be reached', async () => {
      const provider = twilioProvider({ ...account, from: FROM, baseUrl: api.baseUrl });
      api.refuseNext.push({ status: 429, retryAfter: 7 }, { status: 500 });
      const limited = await provider.send(delivery('+15551230000'));
      expect(limited).to.deep.include({ status: 'retry', retryAfterMs: 7000 });
      expect(limited.status === 'retry' && limited.error.code).to.equal('TWILIO_20429');
      const broken = await provider.send(delivery('+15551230000'));
      expect(broken.status).to.equal('retry');
      expect(broken.status === 'retry' && broken.retryAfterMs).to.equal(undefined);
      expect(api.accepted).to.have.length(0);

      const nowhere = twilioProvider({ ...account, from: FROM, baseUrl: 'http://127.0.0.1:9' });
      const unreachable = await nowhere.send(delivery('+15551230000'));
      expect(unreachable.status).to.equal('retry');
      expect(unreachable.status === 'retry' && unreachable.error.code).to.equal('TWILIO_UNAVAILABLE');
    });

    it('gives up on a Twilio that takes the request and never answers after the account timeout, as unknown: it may have sent', async () => {
      const provider = twilioProvider({ ...account, from: FROM, baseUrl: api.baseUrl, timeoutSeconds: 0.3 });
      expect(provider.timeoutMs).to.equal(300);
      api.refuseNext.push({ status: 'hang' });
      const result = await provider.send(delivery('+15551230000'));
      expect(result).to.deep.include({ status: 'unknown' });
      expect(result.status === 'unknown' && result.error.code).to.equal('TWILIO_NO_ANSWER');
      expect(api.requests).to.equal(1);
    });

    it('fails 21610 as stop, bad numbers as bad-address, bad credentials as TWILIO_AUTH', async () => {
      const provider = twilioProvider({ ...account, from: FROM, baseUrl: api.baseUrl });
      api.refuseNext.push({ status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' });
      const stop = await provider.send(delivery('+15551230000'));
      expect(stop).to.deep.include({ status: 'failed', reason: 'stop' });
      expect(stop.status === 'failed' && stop.error.code).to.equal('TWILIO_21610');

      const invalid = await provider.send(delivery('12345')); // the server itself answers 21211
      expect(invalid).to.deep.include({ status: 'failed', reason: 'bad-address' });
      api.refuseNext.push({ status: 400, code: 21614, message: 'not a mobile number' });
      expect(await provider.send(delivery('+15551230000'))).to.deep.include({ status: 'failed', reason: 'bad-address' });
      api.refuseNext.push({ status: 400, code: 30007 });
      expect(await provider.send(delivery('+15551230000'))).to.deep.include({ status: 'failed', reason: 'provider-rejected' });

      const wrong = twilioProvider({ ...account, authToken: 'not-the-token', from: FROM, baseUrl: api.baseUrl });
      const auth = await wrong.send(delivery('+15551230000'));
      expect(auth.status === 'failed' && auth.error.code).to.equal('TWILIO_AUTH');
      expect(auth.status === 'failed' && auth.reason).to.equal(undefined);
      expect(api.accepted).to.have.length(0);
    });

    forEachStore((ctx) => {
      it("schedules the next attempt no sooner than Twilio's Retry-After, under the account's own retry policy", async () => {
        const outbox = new Outbox(ctx.store);
        const provider = twilioProvider({ ...account, from: FROM, baseUrl: api.baseUrl, attempts: 2, firstRetrySeconds: 0.1 });
        const queued: Delivery = { ...delivery('+15551230000'), status: 'queued', attempts: 0 };
        await outbox.create(queued);
        api.refuseNext.push({ status: 429, retryAfter: 30 });
        // The refusal came after this: the next attempt is due at least 30 s later. (Not measured from
        // updatedAt, which is written a moment after the refusal was read: 29,999 ms apart at times.)
        const asked = Date.now();
        const after = await outbox.attempt(queued._id, provider, provider.retry!, new Date());
        expect(after).to.include({ status: 'queued', attempts: 1 });
        expect(after!.dueAt.getTime() - asked).to.be.at.least(30_000);
        expect(after!.error?.code).to.equal('TWILIO_20429');
      });
    });

    it('classifies by HTTP status and Twilio code', () => {
      const rest = (status: number, code?: number) => Object.assign(new Error('x'), { status, ...(code ? { code } : {}) });
      expect(classifyTwilioError(rest(503)).status).to.equal('retry');
      expect(classifyTwilioError(rest(429), 2000)).to.deep.include({ status: 'retry', retryAfterMs: 2000 });
      expect(classifyTwilioError(rest(400, 21211))).to.deep.include({ status: 'failed', reason: 'bad-address' });
      expect(classifyTwilioError(rest(404))).to.deep.include({ status: 'failed', reason: 'provider-rejected' });
      // Cut or unanswered after the request went out: Twilio may have the message, so it is not sent again.
      expect(classifyTwilioError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).to.deep.include({ status: 'unknown' });
      expect(classifyTwilioError(Object.assign(new Error('timeout of 1000ms exceeded'), { code: 'ECONNABORTED' }))).to.deep.include({ status: 'unknown' });
      expect(classifyTwilioError(Object.assign(new Error('getaddrinfo ENOTFOUND api.twilio.com'), { code: 'ENOTFOUND' })).status).to.equal('retry');
      expect(classifyTwilioError(new Error('Required parameter "to" missing.')).status).to.equal('failed');
      expect(retryAfterMs('120')).to.equal(120_000);
      expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString())).to.be.within(3000, 5000);
      expect(retryAfterMs(undefined)).to.equal(undefined);
      expect(retryAfterMs('soon')).to.equal(undefined);
    });
  });

  describe('inbound replies', () => {
    const token = 'inbound-token-0123456789abcdef';
    const url = 'https://journeys.example.com/journeys/sms/inbound/acct1';

    it('reads Twilio keywords as the whole message, in any case', () => {
      for (const stop of ['STOP', 'stop', ' Stop ', 'stopall', 'UNSUBSCRIBE', 'cancel', 'End', 'quit', 'STOP.']) expect(inboundKind(stop), stop).to.equal('stop');
      for (const start of ['START', 'yes', 'Unstop']) expect(inboundKind(start), start).to.equal('start');
      expect(inboundKind('help')).to.equal('help');
      for (const reply of ['please stop sending', 'stopped', 'yes please', '']) expect(inboundKind(reply), reply).to.equal('reply');
    });

    it('verifies X-Twilio-Signature as the SDK computes it, and nothing else', () => {
      const params = { From: '+15551230000', To: FROM, Body: 'STOP', MessageSid: `SM${'1'.repeat(32)}`, AccountSid: `AC${'2'.repeat(32)}` };
      const signature = twilio.getExpectedTwilioSignature(token, url, params);
      expect(verifyInbound(token, signature, url, params)).to.equal(true);
      expect(verifyInbound(token, signature, url, { ...params, Body: 'START' })).to.equal(false);
      expect(verifyInbound(token, signature, `${url}x`, params)).to.equal(false);
      expect(verifyInbound('another-token', signature, url, params)).to.equal(false);
      expect(verifyInbound(token, undefined, url, params)).to.equal(false);
      expect(verifyInbound(token, '', url, params)).to.equal(false);
    });

    forEachStore((ctx) => {
      const at = new Date('2026-06-01T12:00:00Z');
      async function person(id: string, phone: string, consent: Profile['consent'] = {}): Promise<void> {
        await ctx.store.collection<Profile>(COLLECTIONS.profiles).insertOne(profileDoc(id, { identities: { userId: [id], phone: [phone] }, consent }, at));
        await ctx.store.collection<IdentityDoc>(COLLECTIONS.identities).insertOne({ _id: identityKey('phone', phone), type: 'phone', value: phone, profileId: id, at });
      }
      const profile = (s: Store, id: string) => s.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: id });
      const sms = (from: string, body: string, sid: string) => ({ From: from, To: FROM, Body: body, MessageSid: sid });

      it('STOP denies SMS consent (reason stop), START grants it, HELP leaves it, each recorded once as an event', async () => {
        await person('p1', '+15551230001', { sms: { status: 'granted', at } });
        const later = new Date(at.getTime() + 60_000);
        expect(await handleInbound(ctx.store, sms('+15551230001', 'Stop', 'SM-a'), later)).to.deep.equal({ kind: 'stop', profileId: 'p1' });
        expect((await profile(ctx.store, 'p1'))!.consent.sms).to.deep.include({ status: 'denied', reason: 'stop' });
        // Twilio retries a webhook: the same message SID is one event.
        await handleInbound(ctx.store, sms('+15551230001', 'Stop', 'SM-a'), later);
        expect((await profile(ctx.store, 'p1'))!.aggregates.sms_stop?.count).to.equal(1);

        expect((await handleInbound(ctx.store, sms('+15551230001', 'HELP', 'SM-b'), later)).kind).to.equal('help');
        expect((await profile(ctx.store, 'p1'))!.consent.sms?.status).to.equal('denied');

        expect((await handleInbound(ctx.store, sms('+1 555 123 0001', 'start', 'SM-c'), later)).kind).to.equal('start');
        const p = await profile(ctx.store, 'p1');
        expect(p!.consent.sms).to.deep.include({ status: 'granted' });
        expect(p!.aggregates.sms_help?.count).to.equal(1);
        expect(p!.aggregates.sms_start?.count).to.equal(1);

        await handleInbound(ctx.store, sms('+15551230001', 'What time do you open?', 'SM-d'), later);
        const reply = await ctx.store.collection<{ _id: string; name: string; properties: Record<string, unknown> }>(COLLECTIONS.events).findOne({ _id: 'sms_reply:SM-d' });
        expect(reply).to.deep.include({ name: 'sms_reply' });
        expect(reply!.properties).to.include({ body: 'What time do you open?', from: '+15551230001' });
      });

      it('finds numbers stored without the +, follows merges, and changes nothing for an unknown number', async () => {
        await person('p2', '15551230002');
        expect((await handleInbound(ctx.store, sms('+15551230002', 'STOP', 'SM-e'), at)).profileId).to.equal('p2');
        expect((await profile(ctx.store, 'p2'))!.consent.sms?.status).to.equal('denied');

        await person('old', '+15551230003');
        await ctx.store.collection<Profile>(COLLECTIONS.profiles).insertOne(profileDoc('new', {}, at));
        await ctx.store.collection<Profile>(COLLECTIONS.profiles).updateOne({ _id: 'old' }, { $set: { mergedInto: 'new' } });
        expect((await handleInbound(ctx.store, sms('+15551230003', 'STOP', 'SM-f'), at)).profileId).to.equal('new');
        expect((await profile(ctx.store, 'new'))!.consent.sms?.status).to.equal('denied');

        const profiles = await ctx.store.collection<Profile>(COLLECTIONS.profiles).count({});
        expect(await handleInbound(ctx.store, sms('+15559999999', 'STOP', 'SM-g'), at)).to.deep.equal({ kind: 'stop', profileId: null });
        expect(await ctx.store.collection<Profile>(COLLECTIONS.profiles).count({})).to.equal(profiles);
        expect(await ctx.store.collection(COLLECTIONS.events).findOne({ _id: 'sms_stop:SM-g' })).to.equal(null);
      });
    });
  });
});
