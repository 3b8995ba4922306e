/**
 * SMS delivery receipts in lib/: the StatusCallback the Twilio provider names (through the
 * real SDK to the local Messages API), and Twilio's status callbacks applied to deliveries
 * on both stores: out of order, retried, concurrent, with error codes that withdraw consent.
 */
import { expect } from 'chai';
import { COLLECTIONS, deliveryCounters, type Delivery, type Profile, type Store } from '../../lib/index.js';
import { applyStatusCallback, twilioProvider, type ReceiptResult } from '../../lib/channels/sms/index.js';
import { forEachStore, profileDoc } from '../support/stores.js';
import { useTwilioApi } from '../support/twilio-api.js';

const FROM = '+15005550006';
const sent = new Date('2026-06-01T12:00:00Z');
const later = (seconds: number) => new Date(sent.getTime() + seconds * 1000);

let next = 0;
/** A random-looking message SID, as Twilio's: SM and 32 hexadecimal characters. */
const sidOf = () => `SM${(++next).toString(16).padStart(32, '0')}`;

function sentDelivery(sid: string, profileId = 'p1'): Delivery {
  return {
    _id: `sms:send-sms:${sid}`,
    channel: 'sms',
    node: 'send-sms',
    journey: 'welcome',
    instanceId: `i-${sid}`,
    profileId,
    variant: null,
    to: ['+15551230000'],
    content: { body: 'Hi Ada' },
    status: 'sent',
    outbox: false,
    provider: 'twilio',
    attempts: 1,
    dueAt: sent,
    providerMessageId: sid,
    opens: 0,
    clicks: 0,
    createdAt: sent,
    updatedAt: sent,
    sentAt: sent,
  };
}

/** Twilio's status callback fields for `sid`. */
function callback(sid: string, status: string, errorCode?: string): Record<string, string> {
  return { AccountSid: `AC${'0'.repeat(32)}`, MessageSid: sid, SmsSid: sid, MessageStatus: status, SmsStatus: status, From: FROM, To: '+15551230000', ...(errorCode ? { ErrorCode: errorCode } : {}) };
}

describe('sms delivery receipts', () => {
  describe('the StatusCallback a send names', function () {
    this.timeout(20_000);
    const { api, account } = useTwilioApi();

    it('is the URL the provider is given at each send, and none when it has none', async () => {
      let url: string | null = 'https://journeys.example.com/journeys/sms/status/acct1';
      const provider = twilioProvider({ ...account, from: FROM, baseUrl: api.baseUrl }, { statusCallback: () => url });
      const delivery: Delivery = { ...sentDelivery(sidOf()), status: 'sending' };
      expect((await provider.send(delivery)).status).to.equal('sent');
      url = null;
      expect((await provider.send(delivery)).status).to.equal('sent');
      const without = twilioProvider({ ...account, from: FROM, baseUrl: api.baseUrl });
      expect((await without.send(delivery)).status).to.equal('sent');
      expect(api.accepted.map((m) => m.statusCallback)).to.deep.equal(['https://journeys.example.com/journeys/sms/status/acct1', null, null]);
    });
  });

  forEachStore((ctx) => {
    const deliveries = (s: Store) => s.collection<Delivery>(COLLECTIONS.deliveries);
    const stored = async (sid: string) => (await deliveries(ctx.store).findOne({ providerMessageId: sid }))!;
    const counter = async () => (await deliveryCounters(ctx.store, 'welcome')).find((c) => c.node === 'send-sms');
    const consentOf = async (id: string) => (await ctx.store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: id }))!.consent.sms;
    async function sms(profileId = 'p1'): Promise<string> {
      const sid = sidOf();
      await deliveries(ctx.store).insertOne(sentDelivery(sid, profileId));
      return sid;
    }
    beforeEach(async () => {
      await ctx.store.collection<Profile>(COLLECTIONS.profiles).insertOne(profileDoc('p1', { consent: { sms: { status: 'granted', at: sent } } }));
    });

    it('records delivered as a receipt with deliveredAt, leaving the status as it was, and counts it', async () => {
      const sid = await sms();
      const result = await applyStatusCallback(ctx.store, callback(sid, 'delivered'), later(5));
      expect(result).to.deep.include({ kind: 'recorded', deliveryId: `sms:send-sms:${sid}`, profileId: 'p1', consentWithdrawn: false });
      const d = await stored(sid);
      expect(d.status).to.equal('sent');
      expect(d.receipt).to.deep.equal({ status: 'delivered', at: later(5) });
      expect(d.deliveredAt).to.deep.equal(later(5));
      expect(await counter()).to.deep.include({ delivered: 1 });
      expect((await counter())!.undelivered ?? 0).to.equal(0);
    });

    it('accepts the statuses on the way (queued, sending, sent, accepted) and changes nothing for them', async () => {
      const sid = await sms();
      for (const status of ['queued', 'sending', 'sent', 'accepted', 'scheduled', 'something-new']) {
        expect(await applyStatusCallback(ctx.store, callback(sid, status), later(1))).to.deep.equal({ kind: 'ignored' });
      }
      const d = await stored(sid);
      expect(d.receipt).to.equal(undefined);
      expect(d.updatedAt).to.deep.equal(sent);
      expect(await counter()).to.equal(undefined);
    });

    it('keeps delivered when sent or undelivered arrive after it, and moves on to read', async () => {
      const sid = await sms();
      await applyStatusCallback(ctx.store, callback(sid, 'delivered'), later(5));
      expect(await applyStatusCallback(ctx.store, callback(sid, 'sent'), later(6))).to.deep.equal({ kind: 'ignored' });
      expect(await applyStatusCallback(ctx.store, callback(sid, 'undelivered', '30003'), later(7))).to.deep.equal({ kind: 'unchanged' });
      expect((await stored(sid)).receipt).to.deep.equal({ status: 'delivered', at: later(5) });

      expect(await applyStatusCallback(ctx.store, callback(sid, 'read'), later(8))).to.deep.include({ kind: 'recorded' });
      expect(await applyStatusCallback(ctx.store, callback(sid, 'delivered'), later(9))).to.deep.equal({ kind: 'unchanged' });
      const d = await stored(sid);
      expect(d.receipt).to.deep.equal({ status: 'read', at: later(8) });
      expect(d.deliveredAt).to.deep.equal(later(5));
      expect(await counter()).to.deep.include({ delivered: 1 });
      expect((await counter())!.undelivered ?? 0).to.equal(0);
    });

    it('changes and counts nothing for a retried callback, nor for the same one arriving many times at once', async () => {
      const sid = await sms();
      const results: ReceiptResult[] = await Promise.all(Array.from({ length: 8 }, (_, i) => applyStatusCallback(ctx.store, callback(sid, 'delivered'), later(10 + i))));
      expect(results.filter((r) => r.kind === 'recorded')).to.have.length(1);
      expect(results.filter((r) => r.kind === 'unchanged')).to.have.length(7);
      const first = await stored(sid);
      expect(await applyStatusCallback(ctx.store, callback(sid, 'delivered'), later(60))).to.deep.equal({ kind: 'unchanged' });
      expect(await stored(sid)).to.deep.equal(first);
      expect(await counter()).to.deep.include({ delivered: 1 });
    });

    it('records undelivered with its error code, without deliveredAt or touching consent, and a later delivered replaces it in the counts', async () => {
      const sid = await sms();
      for (const code of ['30003', '30005', '30006']) {
        const other = await sms();
        expect(await applyStatusCallback(ctx.store, callback(other, 'undelivered', code), later(3))).to.deep.include({ kind: 'recorded', consentWithdrawn: false });
        expect((await stored(other)).receipt).to.deep.equal({ status: 'undelivered', at: later(3), errorCode: code });
      }
      expect(await applyStatusCallback(ctx.store, callback(sid, 'failed', '30003'), later(4))).to.deep.include({ kind: 'recorded', consentWithdrawn: false });
      expect(await applyStatusCallback(ctx.store, callback(sid, 'undelivered', '30005'), later(5))).to.deep.equal({ kind: 'unchanged' });
      const d = await stored(sid);
      expect(d.receipt).to.deep.equal({ status: 'failed', at: later(4), errorCode: '30003' });
      expect(d.deliveredAt).to.equal(undefined);
      expect(d.status).to.equal('sent');
      expect(await consentOf('p1')).to.include({ status: 'granted' });
      expect(await counter()).to.deep.include({ undelivered: 4 });

      // A carrier's late confirmation: the handset has it after all.
      expect(await applyStatusCallback(ctx.store, callback(sid, 'delivered'), later(30))).to.deep.include({ kind: 'recorded' });
      expect(await counter()).to.deep.include({ undelivered: 3, delivered: 1 });
    });

    it('withdraws SMS consent on 21610 (the person replied STOP) and 30004 (blocked), once', async () => {
      await ctx.store.collection<Profile>(COLLECTIONS.profiles).insertOne(profileDoc('p2', { consent: { sms: { status: 'granted', at: sent } } }));
      const stopped = await sms('p1');
      const blocked = await sms('p2');
      expect(await applyStatusCallback(ctx.store, callback(stopped, 'undelivered', '21610'), later(2))).to.deep.include({ kind: 'recorded', consentWithdrawn: true });
      expect(await consentOf('p1')).to.deep.equal({ status: 'denied', at: later(2), reason: 'stop' });
      expect(await applyStatusCallback(ctx.store, callback(blocked, 'failed', '30004'), later(3))).to.deep.include({ kind: 'recorded', consentWithdrawn: true });
      expect(await consentOf('p2')).to.deep.include({ status: 'denied', reason: 'bounced' });

      // The person opts in again; Twilio's retry of the old callback must not undo that.
      await ctx.store.collection<Profile>(COLLECTIONS.profiles).updateOne({ _id: 'p1' }, { $set: { 'consent.sms': { status: 'granted', at: later(10), reason: 'start' } } });
      expect(await applyStatusCallback(ctx.store, callback(stopped, 'undelivered', '21610'), later(11))).to.deep.equal({ kind: 'unchanged' });
      expect(await consentOf('p1')).to.include({ status: 'granted' });
    });

    it('changes nothing for a SID no delivery has, nor for fields that are not plain strings', async () => {
      const sid = await sms();
      const before = await stored(sid);
      expect(await applyStatusCallback(ctx.store, callback(`SM${'f'.repeat(32)}`, 'delivered'), later(1))).to.deep.equal({ kind: 'unknown' });
      expect(await applyStatusCallback(ctx.store, callback('not-a-sid', 'delivered'), later(1))).to.deep.equal({ kind: 'ignored' });
      // A parsed body (httpNodeMiddleware with extended parsing) could hold objects: none becomes a query operator.
      const operators = [{ ...callback(sid, 'delivered'), MessageSid: { $ne: null }, SmsSid: { $ne: null } }, { ...callback(sid, 'delivered'), MessageStatus: { $in: ['delivered'] }, SmsStatus: ['delivered'] }];
      for (const params of operators) expect(await applyStatusCallback(ctx.store, params, later(1))).to.deep.equal({ kind: 'ignored' });
      expect(await applyStatusCallback(ctx.store, { ...callback(sid, 'undelivered'), ErrorCode: '__proto__' }, later(2))).to.deep.include({ kind: 'recorded', consentWithdrawn: false });
      expect((await stored(sid)).receipt).to.deep.equal({ status: 'undelivered', at: later(2) });
      expect({ ...(await stored(sid)), receipt: undefined, updatedAt: sent }).to.deep.equal({ ...before, receipt: undefined });
      expect(await deliveries(ctx.store).count({})).to.equal(1);
    });

    it('never touches a delivery of another channel with the same provider id', async () => {
      const sid = sidOf();
      await deliveries(ctx.store).insertOne({ ...sentDelivery(sid), _id: 'email:x', channel: 'email' });
      expect(await applyStatusCallback(ctx.store, callback(sid, 'delivered'), later(1))).to.deep.equal({ kind: 'unknown' });
      expect((await deliveries(ctx.store).findOne({ _id: 'email:x' }))!.receipt).to.equal(undefined);
    });
  });
});
