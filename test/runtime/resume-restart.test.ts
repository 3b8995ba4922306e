/**
 * Journey msgs across a SIGKILL, on both stores: a real Node-RED process sends welcome emails through a real
 * SMTP server, with a function node holding each msg for a while before or after the send.
 * Killed while the msgs are held (in memory only), the restarted process takes them over
 * from their resume points once the dead one's heartbeat is stale: every instance completes
 * and every person gets exactly one email.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { FunnelRow, JourneyReport } from '../../lib/index.js';
import { eventually, nodeRedPackage, sleep } from '../support/node-red.js';
import { nodeRedSuite, type RunningNodeRed } from '../support/runtime.js';
import { TestSmtpServer } from '../support/smtp.js';
import { testMongoUri } from '../support/stores.js';

const z = 'rr-tab';
const HOLD_MS = 8_000;
const PEOPLE = 20;

/**
 * Holds a msg whose event asks to be held at this point (`properties.hold`), then sends it on.
 * It logs each msg it starts holding: a msg reaches it only once the journey node before it
 * had its writes acknowledged, which is what a kill must come after.
 */
const holder = (id: string, where: 'before' | 'after', x: number, wires: string[][]) => ({
  id,
  type: 'function',
  z,
  x,
  y: 140,
  // A function that calls node.done() must call it on every path: the runtime no longer does.
  func: `const pass = () => { node.send(msg); node.done(); };\nif (msg.event.properties.hold !== '${where}') pass();\nelse { node.warn('holding ' + msg.event.messageId); setTimeout(pass, ${HOLD_MS}); }\nreturn null;`,
  outputs: 1,
  wires,
});

type Backend = 'mongodb' | 'embedded';

const storeNode = (backend: Backend) =>
  backend === 'mongodb'
    ? { id: 'rr-store', type: 'journey-store', backend, database: `rr_${randomUUID().slice(0, 8)}`, credentials: { uri: testMongoUri() } }
    : { id: 'rr-store', type: 'journey-store', backend, directory: 'journeys-store' };

const flow = (backend: Backend, smtpPort: number) => [
  { id: z, type: 'tab', label: 'resume restart' },
  storeNode(backend),
  { id: 'rr-smtp', type: 'email-account', host: '127.0.0.1', port: smtpPort, tls: 'starttls', from: 'Shop <news@example.com>', timeout: 2 },
  { id: 'rr-http', type: 'http in', z, x: 100, y: 100, url: '/signup', method: 'post', wires: [['rr-in', 'rr-ok']] },
  { id: 'rr-ok', type: 'http response', z, x: 300, y: 60, wires: [] },
  { id: 'rr-in', type: 'event-in', z, x: 300, y: 140, store: 'rr-store', property: 'payload', journey: 'welcome', trigger: 'signed_up', reentry: 'always', wires: [['rr-before'], []] },
  holder('rr-before', 'before', 500, [['rr-send']]),
  {
    id: 'rr-send',
    type: 'send-email',
    z,
    x: 700,
    y: 140,
    store: 'rr-store',
    account: 'rr-smtp',
    subject: 'Welcome {{ profile.traits.firstName }}',
    text: 'Hello {{ profile.traits.firstName }}',
    html: '',
    consent: 'opt-out',
    wires: [['rr-after'], []],
  },
  holder('rr-after', 'after', 900, [[]]),
];

for (const backend of ['mongodb', 'embedded'] as const) {
  describe(`journey msgs across a SIGKILL (real ${nodeRedPackage} process, ${backend} store)`, function () {
    // A dead process is known by its heartbeat going stale (30 s), looked for every 15 s.
    this.timeout(240_000);
    const smtp = new TestSmtpServer();
    const suite = nodeRedSuite('resume-restart');
    let red: RunningNodeRed | undefined;

    before(async () => {
      await smtp.start();
      red = await suite.start();
      await red.deploy(flow(backend, smtp.port));
    });
    after(async () => {
      await smtp.stop();
    });

    // Read through the process's reports API: the embedded store has one owner, the process.
    const report = async () => (await red!.request('GET', '/journeys/reports/welcome')).json as JourneyReport;
    const people = (batch: string) => Array.from({ length: PEOPLE }, (_, i) => `${batch}${i}`);
    const signUpAll = async (batch: string, hold: 'before' | 'after' | 'none') => {
      const answers = await Promise.all(
        people(batch).map((who) =>
          red!.request('POST', '/signup', { name: 'signed_up', identities: { email: `${who}@example.com` }, traits: { firstName: who }, properties: { hold }, messageId: `su-${who}` }),
        ),
      );
      for (const answer of answers) expect(answer.status, answer.text).to.equal(200);
    };
    const mailsTo = (who: string) => smtp.received.filter((r) => r.to.includes(`${who}@example.com`)).length;
    /**
     * Waits until the holder logged every msg of the batch, then checks the report agrees: each
     * one's last step is `node`. The report alone is not enough to kill on, as it reads the
     * store's memory, which shows a write before the journal has it.
     */
    const heldAfter = async (node: string, batch: string) => {
      const holding = () => people(batch).filter((who) => red!.output().includes(`holding su-${who}\n`)).length;
      await eventually(() => (holding() === PEOPLE ? true : undefined), 15_000, `${PEOPLE} msgs of batch ${batch} held`);
      expect((await report()).funnel.find((row: FunnelRow) => row.node === node)?.here).to.equal(PEOPLE);
    };
    const allCompleted = (n: number) =>
      eventually(async () => {
        const r = await report();
        return r.completed === n && r.active === 0 ? true : undefined;
      }, 120_000, `${n} instances completed`).catch(async (err: Error) => {
        throw new Error(`${err.message}; report: ${JSON.stringify(await report().catch(() => null))}\n${red!.output().slice(-3000)}`);
      });
    const killAndRestart = async () => {
      await red!.stop('SIGKILL');
      red = await suite.start();
    };

    it('without a crash: completes each instance and sends one email', async () => {
      await signUpAll('n', 'none');
      await allCompleted(PEOPLE);
      await eventually(() => (people('n').every((who) => mailsTo(who) === 1) ? true : undefined), 10_000, 'one email each');
    });

    it('resumes msgs held in memory before the send: every instance completes, one email each', async () => {
      await signUpAll('a', 'before');
      await heldAfter('rr-in', 'a');
      expect(people('a').map(mailsTo)).to.deep.equal(people('a').map(() => 0));
      await killAndRestart();
      await allCompleted(2 * PEOPLE);
      await sleep(1_000);
      expect(people('a').map(mailsTo)).to.deep.equal(people('a').map(() => 1));
      expect(red!.output()).to.match(/resumed 20 journey message/);
      expect(red!.output().split('\n').filter((line) => line.includes('[error]')), 'errors in the log').to.deep.equal([]);
    });

    it('resumes msgs held after the send without sending again', async () => {
      await signUpAll('b', 'after');
      await heldAfter('rr-send', 'b');
      expect(people('b').map(mailsTo)).to.deep.equal(people('b').map(() => 1));
      await killAndRestart();
      await allCompleted(3 * PEOPLE);
      await sleep(1_000);
      expect(people('b').map(mailsTo)).to.deep.equal(people('b').map(() => 1));
      expect(smtp.received).to.have.length(3 * PEOPLE);
      expect(red!.output()).to.match(/resumed 20 journey message/);
      expect(red!.output().split('\n').filter((line) => line.includes('[error]')), 'errors in the log').to.deep.equal([]);
    });
  });
}
