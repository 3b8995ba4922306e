/**
 * send-email in a real Node-RED runtime (node-red-node-test-helper), on both stores, sending
 * through nodemailer to a real SMTP server on 127.0.0.1, with its tracking endpoints served
 * on the runtime's own HTTP app.
 */
import { expect } from 'chai';
import type { NodeMessageInFlow } from 'node-red';
import {
  COLLECTIONS,
  type Delivery,
  type DeliverySummary,
  type JourneyInstance,
  type Profile,
  type Provider,
  type Store,
} from '../../lib/index.js';
import emailAccount = require('../../nodes/email-account/email-account.js');
import sendEmail = require('../../nodes/send-email/send-email.js');
import type { AccountNode } from '../../nodes/shared/sender.js';
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { asItReached, coreNode, eventually, helper, journeyNodes, nextMessage, recordStatus, sleep, useHttpNodeServer, type FlowNode } from '../support/node-red.js';
import { waitsFallDue } from '../support/examples.js';
import { TestSmtpServer } from '../support/smtp.js';
import { catchAll, forEachBackend, helperNode, node, tab, useHelperRuntime } from './flows.js';

const catchNode = coreNode('common/25-catch.js');

/** A header of a raw message as sent, unfolded. */
function header(raw: string, name: string): string {
  const head = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line ? line.slice(name.length + 1).trim() : '';
}

const SUBJECT = 'Welcome, {{ profile.traits.firstName }}';
const HTML =
  '<html><body><p>Hello {{ profile.traits.firstName }}, your plan is {{ profile.traits.plan }}.</p>' +
  '<p><a href="https://shop.example.com/start?ref=welcome&amp;x=1">Start</a></p>' +
  '<p><a href="{{ unsubscribeUrl }}">Unsubscribe</a></p></body></html>';
const TEXT = 'Hello {{ profile.traits.firstName }} ({{ event.name }} in {{ journey.name }})';

describe('send-email node', function () {
  this.timeout(30_000);
  useHelperRuntime();

  const smtp = new TestSmtpServer();
  // The runtime's HTTP app on a real port, so links in the mails can be followed as a mail client would.
  const web = useHttpNodeServer();
  const captureHttp = web.capture;
  before(() => smtp.start());
  after(() => smtp.stop());
  beforeEach(() => {
    smtp.received.length = 0;
    smtp.refuseNext.length = 0;
    smtp.unknownMailboxes.clear();
  });

  forEachBackend((ctx) => {
    const storeNode = () => ({ ...ctx.store.node, publicUrl: web.url() });
    const account = (): FlowNode => ({ id: 'smtp', type: 'email-account', host: '127.0.0.1', port: smtp.port, tls: 'starttls', from: 'Journeys <news@example.com>' });
    const flow = (send: Record<string, unknown> = {}, withAccount = true): FlowNode[] => [
      tab(),
      storeNode(),
      ...(withAccount ? [account()] : []),
      node('in', 'event-in', { store: 'store', journey: 'welcome', trigger: 'signed_up', reentry: 'always' }, [['merge'], ['rejected']]),
      node('merge', 'profile-merge', { store: 'store', strategy: 'overwrite' }, [['send']]),
      node('send', 'send-email', { store: 'store', account: withAccount ? 'smtp' : '', subject: SUBJECT, html: HTML, text: TEXT, consent: 'opt-in', ...send }, [['sent'], ['not-sent']]),
      helperNode('sent'),
      helperNode('not-sent'),
      helperNode('rejected'),
      catchAll('caught'),
      helperNode('caught'),
    ];
    const load = (nodes: FlowNode[]) => helper.load([...journeyNodes, emailAccount, sendEmail, catchNode, captureHttp], nodes, ctx.store.credentials);
    const store = () => (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
    const deliveries = (s: Store) => s.collection<Delivery>(COLLECTIONS.deliveries);

    let seq = 0;
    /** A sign-up event for `userId`, through event-in and profile-merge to send-email. */
    function signUp(userId: string, traits: Record<string, unknown> = {}, consent: Record<string, boolean> = { email: true }) {
      seq += 1;
      helper.getNode('in').receive({
        payload: {
          name: 'signed_up',
          identities: { userId, email: `${userId}@example.com` },
          traits: { firstName: 'Ada', plan: 'pro', ...traits },
          consent,
          messageId: `m-${userId}-${seq}`,
        },
      });
    }
    const delivery = (msg: NodeMessageInFlow) => msg.delivery as DeliverySummary;

    it('sends the personalised email once, with tracked links, an open pixel and one-click unsubscribe headers', async () => {
      await load(flow());
      const sent = nextMessage('sent');
      signUp('u1', { firstName: 'Ada <script>' });
      const msg = await sent;
      expect(delivery(msg)).to.include({ status: 'sent', channel: 'email', outbox: false, attempts: 1 });
      expect(delivery(msg).to).to.deep.equal(['u1@example.com']);
      await eventually(() => smtp.received.length === 1 || undefined, 5000, 'the mail at the SMTP server');
      const { mail, to, from } = smtp.received[0]!;
      expect(to).to.deep.equal(['u1@example.com']);
      expect(from).to.equal('news@example.com');
      expect(mail.subject).to.equal('Welcome, Ada <script>'); // a subject is text: not escaped
      expect(mail.text).to.contain('Hello Ada <script> (signed_up in welcome)');
      const html = String(mail.html);
      expect(html).to.contain('Hello Ada &lt;script&gt;, your plan is pro.'); // HTML is autoescaped
      expect(html).not.to.contain('shop.example.com/start'); // the link goes through the click redirect
      const click = /href="([^"]*\/journeys\/email\/click\/[^"]+)"/.exec(html)?.[1];
      const pixel = /<img src="([^"]*\/journeys\/email\/open\/[^"]+)"/.exec(html)?.[1];
      const unsubscribe = header(smtp.received[0]!.raw, 'List-Unsubscribe');
      expect(click, 'click link').to.be.a('string');
      expect(pixel, 'open pixel').to.be.a('string');
      expect(unsubscribe).to.match(/^<http:\/\/127\.0\.0\.1:\d+\/journeys\/email\/unsubscribe\/[^>]+>$/);
      expect(header(smtp.received[0]!.raw, 'List-Unsubscribe-Post')).to.equal('List-Unsubscribe=One-Click');
      expect(html).to.contain(`href="${unsubscribe.slice(1, -1)}"`); // the body's unsubscribe link is the same, untracked
      expect(mail.messageId).to.match(/^<[0-9a-f]{32}@example\.com>$/);
      expect(mail.headers.get('x-journeys-delivery')).to.equal(delivery(msg).id);

      const s = await store();
      const record = await deliveries(s).findOne({ _id: delivery(msg).id });
      expect(record).to.include({ status: 'sent', channel: 'email', journey: 'welcome', node: 'send', profileId: msg.profileId, outbox: false, provider: 'smtp' });
      expect(record!.content.subject).to.equal('Welcome, Ada <script>');
      expect(record!.providerMessageId).to.equal(mail.messageId);

      // The same msg again (a retry, a replay): found by its key, not sent twice.
      const again = nextMessage('not-sent');
      helper.getNode('send').receive({ ...asItReached(msg, 'send'), _msgid: 'another-id' });
      expect(delivery(await again)).to.include({ reason: 'duplicate', status: 'sent' });
      // Resumed after its process died: the first outcome again, on output 1, still not sent twice.
      const replayed = nextMessage('sent');
      helper.getNode('send').receive({ ...msg, _msgid: 'a-third-id', journey: { ...(asItReached(msg, 'send').journey as object), resumed: true } });
      expect(delivery(await replayed)).to.deep.equal(delivery(msg));
      await sleep(200);
      expect(smtp.received).to.have.length(1);

      // Resumed while the dead process had left its delivery undecided: decided first, then the flow goes on.
      // Left queued (recorded, never handed over): sent now, out of output 1.
      await deliveries(s).updateOne({ _id: delivery(msg).id }, { $set: { status: 'queued', dueAt: new Date() }, $unset: { sentAt: '' } });
      const sentNow = nextMessage('sent');
      helper.getNode('send').receive({ ...msg, _msgid: 'a-fourth-id', journey: { ...(asItReached(msg, 'send').journey as object), resumed: true } });
      expect(delivery(await sentNow)).to.include({ status: 'sent' });
      await eventually(() => smtp.received[1], 5000, 'the mail left queued');
      // Left mid-send, its lease run out: it may have gone out, so it is settled unknown-outcome, not sent, out of output 2.
      await deliveries(s).updateOne({ _id: delivery(msg).id }, { $set: { status: 'sending', leaseUntil: new Date(Date.now() - 1000) } });
      const undecided = nextMessage('not-sent');
      helper.getNode('send').receive({ ...msg, _msgid: 'a-fifth-id', journey: { ...(asItReached(msg, 'send').journey as object), resumed: true } });
      expect(delivery(await undecided)).to.include({ status: 'failed', reason: 'unknown-outcome' });
      await sleep(200);
      expect(smtp.received).to.have.length(2);
    });

    it('sends again on each pass of a flow that loops back to it, and a replay of one pass gives that pass its first outcome', async () => {
      const looping = [
        ...flow({ subject: 'Reminder {{ msg.round | default(0) }}' }).map((n) => (n.id === 'send' ? { ...n, wires: [['count'], ['not-sent']] } : n)),
        node('count', 'change', { rules: [{ t: 'set', p: 'round', pt: 'msg', to: '$exists(round) ? round + 1 : 1', tot: 'jsonata' }] }, [['again']]),
        node('again', 'switch', { property: 'round', propertyType: 'msg', rules: [{ t: 'lt', v: '3', vt: 'num' }, { t: 'else' }], checkall: 'false', outputs: 2 }, [['send'], ['sent']]),
      ];
      await helper.load([...journeyNodes, emailAccount, sendEmail, catchNode, captureHttp, coreNode('function/15-change.js'), coreNode('function/10-switch.js')], looping, ctx.store.credentials);
      const done = nextMessage('sent');
      signUp('loop1');
      const msg = await done;
      expect(msg.round).to.equal(3);
      expect((msg.journey as { passes?: unknown }).passes).to.deep.equal({ send: 3 });
      await eventually(() => smtp.received[2], 5000, 'three mails');
      expect(smtp.received.map((r) => r.mail.subject)).to.deep.equal(['Reminder 0', 'Reminder 1', 'Reminder 2']);
      const s = await store();
      const instanceId = (msg.journey as { instanceId: string }).instanceId;
      const recorded: Delivery[] = [];
      for await (const d of deliveries(s).find({ instanceId })) recorded.push(d);
      expect(recorded.map((d) => d.status)).to.deep.equal(['sent', 'sent', 'sent']);
      expect(new Set(recorded.map((d) => d._id)).size).to.equal(3);
      const instance = await eventually(async () => {
        const found = await s.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ _id: instanceId });
        return found?.status === 'completed' ? found : undefined;
      }, 3000, 'the instance to complete');
      expect(instance.path.map((step) => step.node)).to.deep.equal(['in', 'send', 'send', 'send']);

      // The last pass replayed after a crash (resumed from a point before it): its own first outcome, nothing sent.
      const lastPass = recorded.find((d) => d.content.subject === 'Reminder 2')!;
      const replayed = nextMessage('sent');
      helper.getNode('send').receive({ ...msg, round: 2, _msgid: 'replay', journey: { ...(msg.journey as object), passes: { send: 2 }, resumed: true } });
      expect(delivery(await replayed).id).to.equal(lastPass._id);
      await sleep(200);
      expect(smtp.received).to.have.length(3);
    });

    it('records opens and clicks from the signed links, refuses forged ones, and unsubscribes in one click', async () => {
      await load(flow());
      const sent = nextMessage('sent');
      signUp('u2');
      const msg = await sent;
      await eventually(() => smtp.received[0], 5000, 'the mail');
      const html = String(smtp.received[0]!.mail.html);
      const click = /href="([^"]*\/journeys\/email\/click\/[^"]+)"/.exec(html)![1]!;
      const pixel = /<img src="([^"]*\/journeys\/email\/open\/[^"]+)"/.exec(html)![1]!;
      const unsubscribeUrl = header(smtp.received[0]!.raw, 'List-Unsubscribe').slice(1, -1);

      const opened = await fetch(pixel);
      expect(opened.status).to.equal(200);
      expect(opened.headers.get('content-type')).to.equal('image/gif');
      const clicked = await fetch(click, { redirect: 'manual' });
      expect(clicked.status).to.equal(302);
      expect(clicked.headers.get('location')).to.equal('https://shop.example.com/start?ref=welcome&x=1');

      // A token re-signed for another delivery, or with its target changed, is refused the same way as garbage.
      const [body, signature] = click.split('/').pop()!.split('.') as [string, string];
      const claim = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, string>;
      const forged = Buffer.from(JSON.stringify({ ...claim, u: 'https://evil.example.net/' })).toString('base64url');
      expect((await fetch(click.replace(body, forged), { redirect: 'manual' })).status).to.equal(404);
      expect((await fetch(`${click.slice(0, click.lastIndexOf('/'))}/not-a-token`, { redirect: 'manual' })).status).to.equal(404);
      expect(signature).to.be.a('string');

      const s = await store();
      await eventually(async () => {
        const d = await deliveries(s).findOne({ _id: delivery(msg).id });
        return d && d.opens === 1 && d.clicks === 1 ? d : undefined;
      }, 5000, 'the open and the click on the delivery');
      const profile = await s.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: msg.profileId as string });
      expect(profile!.aggregates.email_opened?.count).to.equal(1);
      expect(profile!.aggregates.email_clicked?.count).to.equal(1);

      // GET only asks (mail scanners fetch links); the RFC 8058 POST unsubscribes.
      const asked = await fetch(unsubscribeUrl);
      expect(asked.status).to.equal(200);
      expect(await asked.text()).to.contain('<form method="post"');
      expect((await s.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: msg.profileId as string }))!.consent.email?.status).to.equal('granted');
      const posted = await fetch(unsubscribeUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
      expect(posted.status).to.equal(200);
      const after = await s.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: msg.profileId as string });
      expect(after!.consent.email).to.include({ status: 'denied', reason: 'unsubscribed' });

      // The next journey for this person is not mailed, with the reason.
      const refused = nextMessage('not-sent');
      helper.getNode('send').receive({ profileId: msg.profileId, journey: { name: 'welcome', instanceId: 'another-instance' } });
      expect(delivery(await refused)).to.include({ status: 'skipped', reason: 'unsubscribed' });
      expect(smtp.received).to.have.length(1);
    });

    it('skips people without consent (opt-in), and sends to them in opt-out mode unless they withdrew it', async () => {
      await load(flow());
      const skipped = nextMessage('not-sent');
      signUp('u3', {}, {});
      expect(delivery(await skipped)).to.include({ status: 'skipped', reason: 'no-consent' });

      await helper.unload();
      await load(flow({ consent: 'opt-out' }));
      const sent = nextMessage('sent');
      signUp('u4', {}, {});
      expect(delivery(await sent).status).to.equal('sent');
      const denied = nextMessage('not-sent');
      signUp('u5', {}, { email: false });
      expect(delivery(await denied)).to.include({ status: 'skipped', reason: 'consent-denied' });
      await eventually(() => smtp.received.length === 1 || undefined, 5000, 'one mail');
    });

    it('caps how many emails a person gets in a period, across journeys', async () => {
      await load(flow({ cap: true, capMax: 2, capPeriod: 7, capUnit: 'days' }));
      const outcomes: string[] = [];
      helper.getNode('sent').on('input', () => outcomes.push('sent'));
      helper.getNode('not-sent').on('input', (m: NodeMessageInFlow) => outcomes.push(String(delivery(m).reason)));
      for (let i = 0; i < 3; i++) {
        signUp('u6');
        await eventually(() => outcomes.length === i + 1 || undefined, 5000, `outcome ${i + 1}`);
      }
      expect(outcomes).to.deep.equal(['sent', 'sent', 'frequency-cap']);
      expect(smtp.received).to.have.length(2);
    });

    /** What the node logged at error level. */
    const errorsOf = (id: string) =>
      (helper.log().args as Array<[{ id?: string; level?: number; msg?: unknown }]>).filter(([e]) => e.id === id && e.level === 20).map(([e]) => String(e.msg));

    it('sends nothing for a template that fails, and says where on output 2 and to Catch nodes', async () => {
      await load(flow({ text: 'Line one\n{{ profile.traits.nothing() }}' }));
      const failed = nextMessage('not-sent');
      const caught = nextMessage('caught');
      signUp('u7');
      const msg = await failed;
      expect(delivery(msg)).to.include({ status: 'failed', reason: 'template-error' });
      expect(delivery(msg).detail).to.match(/^text, line 2: Unable to call/);
      const error = (await caught).error as { message: string; source: { id: string } };
      expect(error.source.id).to.equal('send');
      expect(error.message).to.contain('journeys.send.errors.not-sent');
      expect(smtp.received).to.have.length(0);
    });

    it('refuses at deploy a template that does not compile or reaches for the prototype chain', async () => {
      await load(flow({ subject: '{{ "".constructor.constructor("return process")().pid }}' }));
      await eventually(() => errorsOf('send')[0], 3000, 'the deploy error');
      expect(errorsOf('send')[0]).to.equal('journeys.send.errors.bad-config'); // the reason itself is checked in test/lib/channels
      signUp('u8');
      await sleep(300);
      expect(smtp.received).to.have.length(0);
      await helper.unload();
      await load(flow({ html: '<p>{% if profile %}unclosed</p>' }));
      await eventually(() => errorsOf('send')[0], 3000, 'the deploy error');
      expect(errorsOf('send')[0]).to.equal('journeys.send.errors.bad-config');
      signUp('u8b');
      await sleep(300);
      expect(smtp.received).to.have.length(0);
    });

    it('refuses at deploy an account whose Connections is not 1 to 50, and sends through as many as it sets', async () => {
      const withConnections = (connections: string) => flow().map((n) => (n.id === 'smtp' ? { ...n, connections } : n));
      await load(withConnections('0'));
      await eventually(() => errorsOf('send')[0], 3000, 'the deploy error');
      expect(errorsOf('send')[0]).to.equal('journeys.send.errors.bad-config');
      const refused = (helper.getNode('smtp') as unknown as AccountNode).provider();
      expect(refused).to.be.instanceOf(Error);
      expect((refused as Error).message).to.equal('email-account.errors.bad-connections');
      await helper.unload();

      await load(withConnections('12'));
      expect(((helper.getNode('smtp') as unknown as AccountNode).provider() as Provider).concurrency).to.equal(12);
      const sent = nextMessage('sent');
      signUp('u8c');
      expect(delivery(await sent).status).to.equal('sent');
    });

    it('retries a temporary refusal with backoff and fails a permanent one once, on output 2 and to Catch', async () => {
      await load(flow());
      smtp.refuseNext.push(451);
      const sent = nextMessage('sent', 10_000);
      signUp('u9');
      const msg = await sent;
      expect(delivery(msg)).to.include({ status: 'sent', attempts: 2 });
      expect(smtp.received).to.have.length(1);

      smtp.refuseNext.push(554);
      const failed = nextMessage('not-sent');
      const caught = nextMessage('caught');
      signUp('u10');
      const failure = delivery(await failed);
      expect(failure).to.include({ status: 'failed', reason: 'provider-rejected', attempts: 1 });
      expect(failure.detail).to.contain('554');
      expect(((await caught).error as { message: string }).message).to.contain('journeys.send.errors.not-sent');
      expect(smtp.received).to.have.length(1);
    });

    it('treats a mailbox the server refuses as a bounce: consent withdrawn, later emails skipped', async () => {
      await load(flow());
      smtp.unknownMailboxes.add('u13@example.com');
      const failed = nextMessage('not-sent');
      signUp('u13');
      const msg = await failed;
      expect(delivery(msg)).to.include({ status: 'failed', reason: 'bounced', attempts: 1 });
      const profile = await (await store()).collection<Profile>(COLLECTIONS.profiles).findOne({ _id: msg.profileId as string });
      expect(profile!.consent.email).to.include({ status: 'denied', reason: 'bounced' });
      const skipped = nextMessage('not-sent');
      helper.getNode('send').receive({ profileId: msg.profileId, journey: { name: 'welcome', instanceId: 'later' } });
      expect(delivery(await skipped)).to.include({ status: 'skipped', reason: 'bounced' });
      expect(smtp.received).to.have.length(0);
    });

    it('records and shows in the outbox, sending nothing, when no account is chosen', async () => {
      await load(flow({}, false));
      const status = recordStatus('send');
      const sent = nextMessage('sent');
      signUp('u11');
      const msg = await sent;
      expect(delivery(msg)).to.include({ status: 'sent', outbox: true });
      const record = await deliveries(await store()).findOne({ _id: delivery(msg).id });
      expect(record).to.include({ provider: 'outbox', outbox: true, status: 'sent' });
      expect(record!.content.html).to.contain('Hello Ada, your plan is pro.');
      await eventually(() => status.calls.find((c) => String(c.text).startsWith('journeys.send.status.outbox-counts')), 3000, 'the outbox badge');
      expect(smtp.received).to.have.length(0);
    });

    it('holds a send in quiet hours as a waiting instance, and sends it when they end', async () => {
      // Quiet from the minute before now to two minutes after: now is certainly inside.
      const now = new Date();
      const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
      const start = hhmm(new Date(now.getTime() - 60_000));
      const end = hhmm(new Date(now.getTime() + 60_000 * 2));
      await load(flow({ quiet: true, quietStart: start, quietEnd: end, defaultZone: 'UTC' }));
      const outputs: NodeMessageInFlow[] = [];
      helper.getNode('sent').on('input', (m: NodeMessageInFlow) => outputs.push(m));
      signUp('u12');
      const s = await store();
      const parked = await eventually(
        async () => (await s.collection<JourneyInstance>(COLLECTIONS.instances).findOne({ status: 'waiting', waitingAt: 'send' })) ?? undefined,
        5000,
        'the instance waiting at the send node',
      );
      expect(outputs).to.have.length(0);
      expect(smtp.received).to.have.length(0);

      // The clock reaches the end of quiet hours: the wait's job falls due now.
      expect((await waitsFallDue(s, 'send')).map((i) => i._id)).to.deep.equal([parked._id]);
      // Resumed at the end of quiet hours, it is not held again (by the clock it is still quiet): it goes out.
      await eventually(() => outputs[0], 10_000, 'the deferred send');
      const d = delivery(outputs[0]!);
      expect(d).to.include({ status: 'sent', channel: 'email' });
      expect(smtp.received).to.have.length(1);
    });
  });
});
