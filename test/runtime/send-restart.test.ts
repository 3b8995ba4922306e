/**
 * Emails across a SIGKILL: a real Node-RED process on MongoDB sends through a real SMTP
 * server in the test. Killed after rendering and recording but before the server has taken
 * the emails, it sends each exactly once after the restart. Killed while the server holds
 * an email it never acknowledged, it does not send that one again.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { COLLECTIONS, MongoStore, type Delivery, type Store } from '../../lib/index.js';
import { eventually, nodeRedPackage, sleep } from '../support/node-red.js';
import { nodeRedSuite, type RunningNodeRed } from '../support/runtime.js';
import { TestSmtpServer } from '../support/smtp.js';
import { testMongoUri } from '../support/stores.js';

const z = 'sr-tab';
const TIMEOUT_S = 2;

const flow = (database: string, smtpPort: number) => [
  { id: z, type: 'tab', label: 'send restart' },
  { id: 'sr-store', type: 'journey-store', backend: 'mongodb', database, credentials: { uri: testMongoUri() } },
  { id: 'sr-smtp', type: 'email-account', host: '127.0.0.1', port: smtpPort, tls: 'starttls', from: 'Shop <news@example.com>', timeout: TIMEOUT_S },
  { id: 'sr-http', type: 'http in', z, x: 100, y: 100, url: '/signup', method: 'post', wires: [['sr-in', 'sr-ok']] },
  { id: 'sr-ok', type: 'http response', z, x: 300, y: 60, wires: [] },
  { id: 'sr-in', type: 'event-in', z, x: 300, y: 140, store: 'sr-store', property: 'payload', journey: 'welcome', trigger: 'signed_up', reentry: 'always', wires: [['sr-merge'], []] },
  { id: 'sr-merge', type: 'profile-merge', z, x: 500, y: 140, store: 'sr-store', strategy: 'overwrite', wires: [['sr-send']] },
  {
    id: 'sr-send',
    type: 'send-email',
    z,
    x: 700,
    y: 140,
    store: 'sr-store',
    account: 'sr-smtp',
    subject: 'Welcome {{ profile.traits.firstName }}',
    text: 'Hello {{ profile.traits.firstName }}',
    html: '',
    consent: 'opt-out',
    wires: [[], []],
  },
];

describe(`emails across a SIGKILL (real ${nodeRedPackage} process, MongoDB)`, function () {
  this.timeout(180_000);
  const smtp = new TestSmtpServer();
  const suite = nodeRedSuite('send-restart');
  let red: RunningNodeRed | undefined;
  let store: Store | undefined;

  before(async () => {
    await smtp.start();
  });
  after(async () => {
    await store?.close();
    await smtp.stop();
  });

  const signUp = (who: string) =>
    red!.request('POST', '/signup', { name: 'signed_up', identities: { email: `${who}@example.com` }, traits: { firstName: who }, messageId: `su-${who}` });
  const deliveries = () => store!.collection<Delivery>(COLLECTIONS.deliveries);
  const mailsTo = (who: string) => smtp.received.filter((r) => r.to.includes(`${who}@example.com`)).length;

  it('sends each email recorded before the crash exactly once after the restart', async () => {
    const database = `sr_${randomUUID().slice(0, 8)}`;
    store = await MongoStore.open({ uri: testMongoUri(), database });
    red = await suite.start();
    await red.deploy(flow(database, smtp.port));

    // The server refuses for now (451, try later): rendered, recorded, retried with backoff.
    smtp.refuseNext.push(...Array.from({ length: 100 }, () => 451));
    for (const who of ['ann', 'bob', 'cem']) expect((await signUp(who)).status).to.equal(200);
    await eventually(async () => ((await deliveries().count({ status: 'queued', attempts: { $gte: 1 } })) === 3 ? true : undefined), 15_000, 'three emails waiting for a retry');
    await red.stop('SIGKILL');
    expect(smtp.received).to.have.length(0);

    smtp.refuseNext.length = 0;
    red = await suite.start();
    await eventually(async () => ((await deliveries().count({ status: 'sent' })) === 3 ? true : undefined), 60_000, 'the three emails sent after the restart');
    await sleep(1_000);
    expect(['ann', 'bob', 'cem'].map(mailsTo)).to.deep.equal([1, 1, 1]);
    expect(smtp.received).to.have.length(3);
    expect(red.output()).to.not.match(/\[error\]/);
  });

  it('does not send again an email the server may have taken when the process died', async () => {
    // The server takes the next email whole and never answers: the sender cannot know it arrived.
    smtp.stallNext = 1;
    expect((await signUp('dee')).status).to.equal(200);
    await eventually(() => (mailsTo('dee') === 1 ? true : undefined), 15_000, "dee's email at the server");
    const stuck = await deliveries().findOne({ to: 'dee@example.com' });
    expect(stuck?.status).to.equal('sending');
    await red!.stop('SIGKILL');

    red = await suite.start();
    // Once the dead attempt's lease has run out, the sweep settles it as unknown, not sent again.
    const settled = await eventually(
      async () => {
        const d = await deliveries().findOne({ _id: stuck!._id });
        return d?.status === 'failed' ? d : undefined;
      },
      90_000,
      'the stuck delivery settled',
    );
    expect(settled).to.include({ reason: 'unknown-outcome', attempts: 1 });
    // Another person's email goes out meanwhile: the sender works, it only refused to guess.
    expect((await signUp('eve')).status).to.equal(200);
    await eventually(() => (mailsTo('eve') === 1 ? true : undefined), 15_000, "eve's email");
    expect(mailsTo('dee')).to.equal(1);
  });
});
