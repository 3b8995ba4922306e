/**
 * Secrets stay in Node-RED's credentials: a real Node-RED process gets a flow whose every
 * credential (a MongoDB connection string, an SMTP password, a Twilio token, an FCM key, a
 * webhook secret) carries a marker, then traffic that makes each of them fail (a database
 * that is not there, providers that refuse). The markers must appear nowhere: not in the
 * flow file, not in the flows the editor gets, not in the log, not in any msg (a debug node
 * writes every msg to the log).
 */
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, nodeRedPackage } from '../support/node-red.js';
import { freePort, nodeRedSuite } from '../support/runtime.js';

const MARK = 'S3CR3T';

describe(`secrets (real ${nodeRedPackage} process)`, function () {
  this.timeout(150_000);
  const suite = nodeRedSuite('secrets');

  it('never shows a credential in the flow file, the editor, the log or a msg', async () => {
    const red = await suite.start();
    const nowhere = await freePort(); // nothing listens here: every provider call fails
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const serviceAccount = JSON.stringify({
      type: 'service_account',
      project_id: 'p',
      private_key_id: `${MARK}-key-id`,
      private_key: pem,
      client_email: `sa@p.iam.gserviceaccount.com`,
    });
    const z = 'sec-tab';
    const flow = [
      { id: z, type: 'tab', label: 'secrets' },
      { id: 'sec-store', type: 'journey-store', backend: 'embedded', directory: 'journeys-store' },
      { id: 'sec-mongo', type: 'journey-store', backend: 'mongodb', database: 'x', credentials: { uri: `mongodb://user:${MARK}-mongo@127.0.0.1:${nowhere}/x?serverSelectionTimeoutMS=500` } },
      { id: 'sec-smtp', type: 'email-account', host: '127.0.0.1', port: nowhere, tls: 'starttls', from: 'a@example.com', timeout: 1, credentials: { user: 'mailer', password: `${MARK}-smtp` } },
      { id: 'sec-twilio', type: 'twilio-account', accountSid: `AC${'0'.repeat(32)}`, from: '+15550001111', baseUrl: `http://127.0.0.1:${nowhere}`, credentials: { authToken: `${MARK}-twilio` } },
      { id: 'sec-fcm', type: 'fcm-account', endpoint: `http://127.0.0.1:${nowhere}`, credentials: { serviceAccount } },
      { id: 'sec-http', type: 'http in', z, x: 100, y: 100, url: '/sec', method: 'post', wires: [['sec-in', 'sec-ok']] },
      { id: 'sec-ok', type: 'http response', z, x: 300, y: 60, wires: [] },
      { id: 'sec-in', type: 'event-in', z, x: 300, y: 100, store: 'sec-store', property: 'payload', webhook: 'sec', credentials: { secret: `${MARK}-hook` }, wires: [['sec-mail', 'sec-sms', 'sec-push', 'sec-m-in'], ['sec-log']] },
      { id: 'sec-mail', type: 'send-email', z, x: 500, y: 60, store: 'sec-store', account: 'sec-smtp', subject: 'Hi', text: 'Hi', html: '', consent: 'opt-out', wires: [['sec-log'], ['sec-log']] },
      { id: 'sec-sms', type: 'send-sms', z, x: 500, y: 100, store: 'sec-store', account: 'sec-twilio', body: 'Hi', consent: 'opt-out', wires: [['sec-log'], ['sec-log']] },
      { id: 'sec-push', type: 'send-push', z, x: 500, y: 140, store: 'sec-store', account: 'sec-fcm', title: 'Hi', body: 'Hi', consent: 'opt-out', wires: [['sec-log'], ['sec-log']] },
      { id: 'sec-m-in', type: 'track', z, x: 500, y: 180, store: 'sec-mongo', milestone: 'm', wires: [['sec-log']] },
      { id: 'sec-catch', type: 'catch', z, x: 500, y: 220, scope: null, uncaught: false, wires: [['sec-log']] },
      { id: 'sec-log', type: 'debug', z, x: 700, y: 140, active: true, tosidebar: true, console: true, complete: 'true', targetType: 'full', wires: [] },
    ];
    await red.deploy(flow);
    const answer = await red.request('POST', '/sec', { name: 'signed_up', identities: { email: 'ada@example.com', phone: '+15551234567', deviceToken: 'tok-1' }, messageId: 'sec-1' });
    expect(answer.status).to.equal(200);
    // Each send retries with backoff (about 15 s in all) before it fails; the MongoDB store's open fails on the driver's timeout.
    const failures = () => (red.output().match(/not sent \(provider-unavailable\)|journeys.send.errors.not-sent|not sent/g) ?? []).length;
    await eventually(() => (failures() >= 3 && /could not be opened|open-failed|unavailable/.test(red.output()) ? true : undefined), 90_000, 'the three sends and the store to fail');

    const flowFile = await readFile(join(suite.userDir, 'flows.json'), 'utf8');
    const editorFlows = (await red.request('GET', '/flows')).text;
    const exported = (await red.request('GET', '/flows', undefined, { 'Node-RED-API-Version': 'v2' })).text;
    const log = red.output();
    // The traffic did happen: the log has the msgs and the failures it is searched for secrets in.
    expect(log).to.match(/signed_up/);
    expect(log).to.match(/\[error\]/);
    for (const [where, text] of Object.entries({ flowFile, editorFlows, exported, log })) {
      expect(text.includes(MARK), `${where} shows a secret`).to.equal(false);
      expect(text.includes('BEGIN PRIVATE KEY'), `${where} shows the FCM key`).to.equal(false);
    }
  });
});
